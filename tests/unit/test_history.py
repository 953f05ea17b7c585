"""The deploy history's lines as `history` reads them, and who a run says it is."""

from dlgr_ansible import __version__
from dlgr_ansible.history import parse_history, run_variables


def test_a_run_names_the_command_without_its_values():
    variables = run_variables("deploy --update")
    assert variables["dallinger_run_command"] == "dlgr-ansible deploy --update"
    assert variables["dallinger_run_tool"] == f"dlgr-ansible {__version__}"
    assert variables["dallinger_run_user"]
    assert variables["dallinger_run_machine"]
    assert set(variables) == {
        "dallinger_run_user",
        "dallinger_run_machine",
        "dallinger_run_tool",
        "dallinger_run_command",
    }


def test_lines_become_rows_oldest_first_of_one_app_when_asked():
    lines = [
        '{"time": "t1", "app": "a", "result": "succeeded", "duration": 3}',
        '{"time": "t2", "command": "dlgr-ansible provision", "result": "failed"}',
        '{"time": "t3", "app": "b", "result": "interrupted", "digests": ["x@sha256:1"]}',
    ]
    rows = parse_history(lines)
    assert [row["time"] for row in rows] == ["t1", "t2", "t3"]
    assert rows[1]["app"] == ""
    assert rows[1]["digests"] == []
    assert [row["time"] for row in parse_history(lines, "b")] == ["t3"]


def test_a_damaged_line_is_shown_as_such():
    [row] = parse_history(['{"time": "t1", "res'])
    assert row["result"].startswith("unreadable line: ")
