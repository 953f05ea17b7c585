"""Every command's --json document (dlgr_ansible/reports.py) is described in docs/json.md."""

import re
from pathlib import Path

import pytest

from dlgr_ansible import reports

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"


def sections() -> dict[str, str]:
    """Heading -> text, for each `## ` section of docs/json.md."""
    parts = re.split(r"^## (.+)$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def section_of(command: str) -> str:
    found = [text for heading, text in sections().items() if f"`dlgr-ansible {command}`" in heading]
    assert found, f"docs/json.md has no section for `dlgr-ansible {command}`"
    return found[0]


def test_every_run_key_is_described():
    common = sections()["What every playbook command reports"]
    for key in reports.RUN_KEYS:
        assert f"`{key}`" in common


@pytest.mark.parametrize(
    ("report", "command"),
    [(report, command) for report in reports.PLAYBOOK_REPORTS for command in report.COMMANDS],
)
def test_every_command_has_its_keys_described(report, command):
    text = section_of(command)
    for key in (*report.STATS, *report.KEYS):
        assert f"`{key}`" in text, f"{key} of {command}"
    for key in report.STATS:
        assert f"`{key}`" in sections()["What every playbook command reports"]


def test_the_documents_without_a_playbook_are_described():
    assert '"host", "user", "port"' in section_of("servers list")
    assert '"state", "server"' in section_of("local-server status")
