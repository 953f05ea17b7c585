"""A task's `register:` must not reuse the name of a role variable.

A registered result outranks role vars and defaults for the rest of the run, so a
register named like a path variable (say `dallinger_app_compose_file`) silently turns
every later use of that path into a dict, and a template's `dest:` then fails.
"""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
REGISTER = re.compile(r"^\s*register:\s*(\w+)\s*$", re.MULTILINE)


def role_variables() -> set[str]:
    names: set[str] = set()
    for path in [*REPO.glob("roles/*/vars/*.yml"), *REPO.glob("roles/*/defaults/*.yml")]:
        names |= set(yaml.safe_load(path.read_text()) or {})
    return names


def registers() -> list[tuple[str, str]]:
    found = []
    for path in [*REPO.glob("roles/**/*.yml"), *REPO.glob("playbooks/*.yml")]:
        for name in REGISTER.findall(path.read_text()):
            found.append((str(path.relative_to(REPO)), name))
    return found


def test_registers_exist_to_be_checked():
    assert len(registers()) > 20
    assert "dallinger_app_compose_file" in role_variables()


def test_no_register_shadows_a_role_variable():
    variables = role_variables()
    clashes = [f"{path}: register {name}" for path, name in registers() if name in variables]
    assert not clashes, clashes
