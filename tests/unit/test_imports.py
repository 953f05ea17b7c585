"""Imports between dlgr_ansible's modules run one way only: CLI -> commands -> library.

Two checks: the import graph read from the source has no cycle, and every module
imports on its own in a fresh interpreter (a cycle that Python tolerates in one
import order breaks in another). Also: only the CLI knows click.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dlgr_ansible"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """The names of modules `path` imports, absolute or relative, at any depth."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module_name(path).split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def internal_imports(name: str) -> set[str]:
    """The package's own modules that `name` imports (a package's __init__ excluded when
    it merely contains the module imported)."""
    found = set()
    for target in imported(MODULES[name]):
        if target in MODULES and target != name and target != "dlgr_ansible":
            found.add(target)
    return found


def test_the_import_graph_has_no_cycle():
    graph = {name: internal_imports(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail(f"circular import: {' -> '.join(cycle)}")
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_every_module_imports_alone_in_a_fresh_interpreter():
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PACKAGE.parent,
        )
        for name in MODULES
        if name != "dlgr_ansible.__main__"  # runs the CLI when imported
    }
    failed = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failed[name] = err.strip().splitlines()[-1:]
    assert not failed


def test_only_the_cli_knows_click():
    outside = [
        name
        for name, path in MODULES.items()
        if not name.startswith("dlgr_ansible.cli")
        and name != "dlgr_ansible.__main__"
        # PsyNet's preparation is a click command of PsyNet's, called with a context.
        and name != "dlgr_ansible.psynet_prepare"
        and any(target.split(".")[0] == "click" for target in imported(path))
    ]
    assert outside == []


def test_the_library_does_not_import_the_cli():
    for name, path in MODULES.items():
        if name.startswith("dlgr_ansible.cli") or name == "dlgr_ansible.__main__":
            continue
        assert not any(t.startswith("dlgr_ansible.cli") for t in imported(path)), name
