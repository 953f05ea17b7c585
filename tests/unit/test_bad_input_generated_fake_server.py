"""Generated invalid input (tests/unit/bad_input.py) for every command: each is refused
with one `Error:` line, exit 1 or 2, no traceback, and nothing reached: no process, no
socket, no ansible-runner, no file under ~/.dallinger. The server is fake (unreachable on
purpose); the seed is fixed, so CI tries the same cases each run. benchmarks/bad_input.py
runs the same generator with larger counts and prints the table."""

import resource
import zipfile

import pytest

from dlgr_ansible.export import TABLES
from tests.unit import bad_input

# CI's subset; the benchmark takes more.
EXAMPLES = 300
SEED = 20261205


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    bad_input.setup_home(tmp_path)
    return tmp_path


def test_every_generated_bad_input_is_refused_cleanly(home, monkeypatch):
    outcomes = bad_input.run(home, bad_input.Guard(monkeypatch), EXAMPLES, SEED)
    assert len(outcomes) >= 200
    assert {o.kind for o in outcomes} == set(bad_input.CASES)
    misbehaved = [o for o in outcomes if o.problem]
    assert misbehaved == [], "\n".join(f"{o.kind}: {o.argv!r}: {o.problem}" for o in misbehaved)


def test_the_guard_sees_a_command_that_reaches_out(home, monkeypatch):
    """The checks above would be empty if the guard missed a way out."""
    guard = bad_input.Guard(monkeypatch)
    outcome = bad_input.try_case(home, guard, "valid", ["logs", "--app", "fine-app"], {})
    assert outcome.problem.startswith("reached ")


def test_an_archive_with_a_1gb_csv_is_refused_in_bounded_memory(home, monkeypatch):
    """A 1 GB participant table with no header row (a few MB compressed): refused
    cleanly, read in pieces; the process grows by far less than the table."""
    archive = home / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as handle:
        handle.writestr("experiment_id.md", bad_input.GOOD_APP)
        for table in TABLES:
            if table != "participant":
                handle.writestr(f"data/{table}.csv", "id,creation_time\n")
        with handle.open("data/participant.csv", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(b"1,2026-01-01," + b"x" * (2**20 - 13))
    grown_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    argv = bad_input._deploy("--image", bad_input.GOOD_IMAGE, "--archive", str(archive))
    outcome = bad_input.try_case(home, bad_input.Guard(monkeypatch), "archive", argv, {})
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown_before
    assert outcome.problem == ""
    assert grown_kb < 200 * 1024, f"grew by {grown_kb // 1024} MB"
