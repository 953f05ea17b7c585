"""The facts the roles, the playbooks and the CLI share, stated once in dallinger_common.

roles/dallinger_common/defaults/main.yml is their one home on the Ansible side. The CLI
keeps its own copies in Python (it checks names before anything connects, and builds
paths for its ssh commands); these tests tie each copy to the role, so that changing a
fact on one side only fails here. They also fail when a role or a playbook states one
of these values again instead of using dallinger_common's variable.

Molecule's verify playbooks and the integration tests are left out on purpose: a check
that read the value it checks from the same place would prove nothing.

Pure file reading and Python calls: no Docker, no network.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import jinja2
import pytest
import yaml

from dlgr_ansible import app_logs, export, validate
from dlgr_ansible.validate import ValidationError

ROOT = Path(__file__).resolve().parents[2]
COMMON = ROOT / "roles" / "dallinger_common"
PACKAGE = ROOT / "dlgr_ansible"
# Worked out from the SSH user's facts when used: nothing on the Python side to compare.
FACT_DERIVED = {
    "dallinger_common_root",
    "dallinger_common_data_root",
    "dallinger_common_psynet_assets",
    "dallinger_common_stamp_sum",
}


def _defaults() -> dict:
    return yaml.safe_load((COMMON / "defaults" / "main.yml").read_text())


def _resolved() -> dict:
    """The defaults with their references to each other filled in, as Ansible would."""
    values = _defaults()
    for _ in range(len(values)):
        for key, value in values.items():
            if key not in FACT_DERIVED and isinstance(value, str) and "{{" in value:
                values[key] = jinja2.Template(value).render(values)
    return values


FACTS = _resolved()


def _python(name: str):
    """The module-level object `name` of the dlgr_ansible package, wherever it lives."""
    owners = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            targets = []
            if isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                targets = [node.name]
            if name in targets:
                owners.append(path)
    assert len(owners) == 1, f"{name} is defined in {owners or 'no module'} of dlgr_ansible"
    module = ".".join(owners[0].relative_to(ROOT).with_suffix("").parts)
    return getattr(importlib.import_module(module), name)


# -- the app name -------------------------------------------------------------------------

APP_NAME_SAMPLES = [
    "a",
    "stroop\n",
    "ab",
    "a1",
    "a-b",
    "a--b",
    "stroop-pilot",
    "exp2024",
    "a" * 63,
    "a" + "-" * 61 + "b",
    "a" * 62 + "1",
    "a" * 64,
    "a" * 62 + "-",
    "",
    "1abc",
    "-abc",
    "abc-",
    "Abc",
    "aBc",
    "a_b",
    "a.b",
    "a b",
    " abc",
    "abc ",
    "ä",
    "a/b",
    "a;b",
    "abc\n",
    "dallinger",
    "logs",
    "postgres",
    "template0",
    "template1",
    "dallinger1",
    "logs-app",
    "postgres2",
    "template",
]


def _role_accepts_app_name(value: str) -> bool:
    """As dallinger_app (and dallinger_export, logs.yml for the pattern) check it."""
    pattern = re.compile(FACTS["dallinger_common_app_name_pattern"])  # Ansible's `match`
    return bool(pattern.match(value)) and value not in FACTS["dallinger_common_reserved_app_names"]


def _cli_accepts_app_name(value: str) -> bool:
    try:
        validate.app_name(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("value", APP_NAME_SAMPLES)
def test_app_name_check_agrees_with_the_role(value):
    assert _cli_accepts_app_name(value) == _role_accepts_app_name(value)


def test_app_name_samples_cover_both_answers():
    answers = {_role_accepts_app_name(value) for value in APP_NAME_SAMPLES}
    assert answers == {True, False}


@pytest.mark.parametrize("value", FACTS["dallinger_common_reserved_app_names"])
def test_reserved_names_are_refused_by_the_cli(value):
    assert re.match(FACTS["dallinger_common_app_name_pattern"], value)  # refused as reserved
    with pytest.raises(ValidationError, match="reserved"):
        validate.app_name(value)


def test_reserved_names_are_the_same_set():
    assert set(validate.RESERVED_APP_NAMES) == set(FACTS["dallinger_common_reserved_app_names"])


# -- the compose service name (logs.yml) --------------------------------------------------

SERVICE_SAMPLES = [
    "web",
    "web\n",
    "worker_1",
    "clock",
    "redis",
    "a.b-c_d",
    "0web",
    "w" * 63,
    "",
    "Web",
    "_web",
    "-web",
    ".web",
    "web server",
    "web;id",
    "wéb",
]


@pytest.mark.parametrize("value", SERVICE_SAMPLES)
def test_service_name_check_agrees_with_the_playbook(value):
    try:
        validate.service_name(value)
        cli = True
    except ValidationError:
        cli = False
    assert cli == bool(re.match(FACTS["dallinger_common_service_name_pattern"], value))


def test_cli_also_bounds_the_service_name_length():
    """The one difference, on purpose: the CLI refuses over 63 characters first."""
    assert re.match(FACTS["dallinger_common_service_name_pattern"], "w" * 64)
    with pytest.raises(ValidationError):
        validate.service_name("w" * 64)


# -- export, layout, the stack's names ----------------------------------------------------


def test_export_tables_are_the_same():
    assert list(export.TABLES) == FACTS["dallinger_common_export_tables"]


def test_export_role_exports_the_common_tables_by_default():
    defaults = yaml.safe_load((ROOT / "roles/dallinger_export/defaults/main.yml").read_text())
    assert defaults["dallinger_export_tables"] == "{{ dallinger_common_export_tables }}"


def test_logs_commands_use_the_app_folder_of_the_layout():
    compose_file = "/".join(
        [FACTS["dallinger_common_dir_name"], "app1", FACTS["dallinger_common_compose_file"]]
    )
    argv = _python("logs_command")("app1", "web", None, False)
    assert argv[argv.index("-f") + 1] == compose_file
    assert f"test -e {compose_file} " in " ".join(_python("logs_follow_command")("app1", "web", 5))


def test_psynet_assets_folder_is_the_same():
    expected = "{{ ansible_facts.user_dir ~ '/" + _python("ASSETS_FOLDER") + "' }}"
    assert FACTS["dallinger_common_psynet_assets"] == expected


def test_dozzle_user_is_the_same():
    (path,) = PACKAGE.rglob("dozzle.py")  # USER alone names other users too
    dozzle = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    user = FACTS["dallinger_common_dozzle_user"]
    assert user == dozzle.USER


def test_local_server_reads_caddys_root_from_the_stack_volume():
    """The host's path of the stack's Caddy volume, where Docker keeps <project>_<volume>."""
    cert = FACTS["dallinger_common_caddy_root_cert"]
    assert cert.startswith("/data/")  # the volume's mount point in the server's compose file
    volume = f"{FACTS['dallinger_common_project']}_{FACTS['dallinger_common_caddy_data_volume']}"
    expected = f"/var/lib/docker/volumes/{volume}/_data{cert.removeprefix('/data')}"
    assert _python("CADDY_ROOT") == expected


def test_container_names_follow_compose():
    project = FACTS["dallinger_common_project"]
    for part in ("pg", "caddy", "dozzle"):
        service = FACTS[f"dallinger_common_{part}_service"]
        assert FACTS[f"dallinger_common_{part}_container"] == f"{project}-{service}-1"
    assert FACTS["dallinger_common_pg_container"] == "dallinger-postgresql-1"
    assert FACTS["dallinger_common_pg_container"] == app_logs.PG_CONTAINER


def _set_stats_keys(node) -> set[str]:
    """The keys every set_stats task in a loaded playbook or task file hands back."""
    if isinstance(node, list):
        return set().union(*(_set_stats_keys(item) for item in node))
    if not isinstance(node, dict):
        return set()
    keys = set(node.get("ansible.builtin.set_stats", {}).get("data", {}))
    return keys.union(*(_set_stats_keys(value) for value in node.values()))


def test_the_cli_reads_keys_that_roles_and_playbooks_hand_back():
    handed_back = set().union(
        *(
            _set_stats_keys(yaml.safe_load(p.read_text()))
            for p in _ansible_files()
            if p.suffix == ".yml"
        )
    )
    read = {
        node.targets[0].id: node.value.value
        for path in PACKAGE.rglob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.endswith("_KEY")
        and isinstance(node.value, ast.Constant)
        and str(node.value.value).startswith("dlgr_")
    }
    assert read, "no *_KEY constants found in dlgr_ansible"
    assert {name: key for name, key in read.items() if key not in handed_back} == {}


# -- the role itself ----------------------------------------------------------------------


def test_argument_specs_document_the_defaults():
    specs = yaml.safe_load((COMMON / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = _defaults()
    assert set(options) == set(defaults) - FACT_DERIVED
    for name, option in options.items():
        assert option["default"] == defaults[name], name


def test_common_role_has_defaults_only():
    assert sorted(p.name for p in COMMON.iterdir()) == ["README.md", "defaults", "meta"]


# -- no second copy in the roles and playbooks --------------------------------------------

# How each fact would look if written out again instead of taken from dallinger_common.
RESTATED = {
    "a container name": r"dallinger-(postgresql|httpserver|dozzle)-1",
    "a folder in the SSH user's home": r"user_dir\s*~\s*['\"]/|dallinger-data",
    "the sites folder": r"caddy\.d",
    "the compose file's name": r"docker-compose\.yml(?!\.j2)",
    "the app-name pattern": r"\[a-z\]\(\??:?\[a-z0-9-\]",
    "the service-name pattern": r"\[a-z0-9\]\[a-z0-9_\.-\]",
    "the e-mail pattern": r"\[\^\\s\{\}\"@\]",
    "the reserved app names": r"\btemplate[01]\b",
    "the export tables": r"\btransmission\b",
    "Caddy's root certificate": r"pki/authorities",
    "Caddy's data volume": r"\bcaddy_data\b",
    "the superuser": r"-U,?\s+dallinger\b|superuser:\s*dallinger\b|POSTGRES_(USER|DB):\s*dallinger\b",
    "the network or Dozzle's user": r"networks:\s*\[dallinger\]|^\s*dallinger:\s*(\{\})?$|\bname:\s*dallinger$",
    "the compose project": r"project\s*[:=]\s*dallinger\b|^name:\s*dallinger\b",
}


def _code_lines(path: Path):
    """Lines that are not comments; for argument specs, only the defaults (the rest is prose)."""
    if path.name == "argument_specs.yml":
        for spec in yaml.safe_load(path.read_text())["argument_specs"].values():
            for name, option in spec.get("options", {}).items():
                if "default" in option:
                    yield f"{name} default", str(option["default"])
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.lstrip().startswith(("#", "{#", ";")):
            yield number, line


def _ansible_files():
    for path in sorted([*(ROOT / "roles").rglob("*"), *(ROOT / "playbooks").rglob("*")]):
        if (
            path.is_file()
            and path.suffix in (".yml", ".yaml", ".j2")
            and COMMON not in path.parents
        ):
            yield path


def test_roles_and_playbooks_do_not_restate_common_facts():
    found = [
        f"{path.relative_to(ROOT)}:{where}: {what}: {line.strip()}"
        for path in _ansible_files()
        for where, line in _code_lines(path)
        for what, pattern in RESTATED.items()
        if re.search(pattern, line)
    ]
    assert not found, "use dallinger_common's variable instead:\n" + "\n".join(found)


def test_the_check_above_sees_a_copy():
    lines = [
        '    container: "dallinger-postgresql-1"',
        "    dlgr_root: \"{{ ansible_facts.user_dir ~ '/dallinger' }}\"",
        "      - dlgr_app is match('^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",
        "    argv: [psql, -U, dallinger, -d, postgres]",
        "    networks: [dallinger]",
    ]
    for line in lines:
        assert any(re.search(pattern, line) for pattern in RESTATED.values()), line


def test_playbooks_do_not_reach_into_roles():
    """A playbook uses a role's tasks through the role (tasks_from), not by its files' paths."""
    for path in (ROOT / "playbooks").glob("*.yml"):
        assert "../roles/" not in path.read_text(), path


def test_users_of_common_facts_load_the_role():
    for path in _ansible_files():
        text = path.read_text()
        if "dallinger_common_" not in text:
            continue
        if path.is_relative_to(ROOT / "playbooks"):
            assert "name: dallinger_common" in text, path
        else:
            role = path.relative_to(ROOT / "roles").parts[0]
            meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text())
            names = [d["role"] if isinstance(d, dict) else d for d in meta["dependencies"]]
            assert "dallinger_common" in names, role
