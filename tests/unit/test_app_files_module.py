"""The dallinger_app role's module `dallinger_app_files`, run as Ansible runs it on a
server (a Python process reading its arguments) against real files in a temporary
folder: what it writes, what it leaves alone, its backups, and that a content never
shows in its result."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

MODULE = Path(__file__).parents[2] / "roles/dallinger_app/library/dallinger_app_files.py"


def run(tmp_path: Path, **args) -> dict:
    arguments = tmp_path.parent / f"{tmp_path.name}-args.json"
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(arguments)], capture_output=True, text=True
    )
    return json.loads(proc.stdout)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_are_written_with_their_modes_and_no_content_is_shown(tmp_path):
    result = run(
        tmp_path,
        directory=str(tmp_path),
        files=[
            {"name": ".env", "content": "PASSWORD=s3cr3t\n", "mode": "0600"},
            {"name": "docker-compose.yml", "content": "name: x\n", "mode": "0644"},
        ],
        touched=[{"name": "logs.jsonl", "mode": "0640"}],
    )
    assert result["changed"]
    assert result["written"] == [".env", "docker-compose.yml", "logs.jsonl"]
    assert (tmp_path / ".env").read_text() == "PASSWORD=s3cr3t\n"
    assert mode(tmp_path / ".env") == 0o600
    assert mode(tmp_path / "docker-compose.yml") == 0o644
    assert (tmp_path / "logs.jsonl").read_text() == ""
    assert mode(tmp_path / "logs.jsonl") == 0o640
    assert "s3cr3t" not in json.dumps(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".env",
        "docker-compose.yml",
        "logs.jsonl",
    ]


def test_files_as_given_are_left_alone_and_a_log_keeps_its_lines(tmp_path):
    (tmp_path / "a").write_text("same")
    os.chmod(tmp_path / "a", 0o600)
    (tmp_path / "logs.jsonl").write_text('{"line": 1}\n')
    os.chmod(tmp_path / "logs.jsonl", 0o640)
    before = (tmp_path / "a").stat().st_mtime_ns
    result = run(
        tmp_path,
        directory=str(tmp_path),
        files=[{"name": "a", "content": "same", "mode": "0600"}],
        touched=[{"name": "logs.jsonl", "mode": "0640"}],
    )
    assert not result["changed"]
    assert result["written"] == []
    assert result["modes"] == []
    assert (tmp_path / "a").stat().st_mtime_ns == before
    assert (tmp_path / "logs.jsonl").read_text() == '{"line": 1}\n'


def test_a_changed_file_is_backed_up_as_ansible_names_backups_and_a_mode_is_fixed(tmp_path):
    (tmp_path / ".env").write_text("OLD=1\n")
    os.chmod(tmp_path / ".env", 0o600)
    (tmp_path / "pgbouncer.ini").write_text("x")
    os.chmod(tmp_path / "pgbouncer.ini", 0o660)
    result = run(
        tmp_path,
        directory=str(tmp_path),
        files=[
            {"name": ".env", "content": "NEW=1\n", "mode": "0600", "backup": True},
            {"name": "pgbouncer.ini", "content": "x", "mode": "0644"},
        ],
    )
    assert result["written"] == [".env"]
    assert result["modes"] == ["pgbouncer.ini"]
    assert mode(tmp_path / "pgbouncer.ini") == 0o644
    # switch-web.sh puts back the oldest FILE.<pid>.<time>~ when a new web does not start.
    backups = list(tmp_path.glob(".env.*~"))
    assert len(backups) == 1
    assert backups[0].read_text() == "OLD=1\n"
    assert mode(backups[0]) == 0o600


def test_names_with_folders_and_bad_modes_are_refused_before_anything_is_written(tmp_path):
    refused = (("../escape", "0600"), ("sub/file", "0600"), ("ok", "rw"), ("ok", "77777"))
    for name, file_mode in refused:
        result = run(
            tmp_path,
            directory=str(tmp_path),
            files=[
                {"name": "first", "content": "x", "mode": "0600"},
                {"name": name, "content": "x", "mode": file_mode},
            ],
        )
        assert result["failed"]
        assert name in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_an_error(tmp_path):
    result = run(tmp_path, directory=str(tmp_path / "gone"), files=[])
    assert result["failed"]
    assert result["msg"] == f"{tmp_path / 'gone'} is not a folder."


def test_a_folder_in_the_way_is_an_error_that_names_it(tmp_path):
    (tmp_path / "logs.jsonl").write_text("")
    (tmp_path / ".env").mkdir()  # as Docker makes a missing bind-mount source
    result = run(
        tmp_path,
        directory=str(tmp_path),
        files=[{"name": ".env", "content": "A=1\n", "mode": "0600"}],
    )
    assert result["failed"]
    assert result["msg"] == f"Writing {tmp_path / '.env'} failed: Is a directory."


def test_temporary_files_of_a_killed_call_are_removed(tmp_path):
    (tmp_path / ".dlgr-files-abc123").write_text("half a site")
    result = run(
        tmp_path,
        directory=str(tmp_path),
        files=[{"name": "site", "content": "x", "mode": "0644"}],
    )
    assert result["written"] == ["site"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
