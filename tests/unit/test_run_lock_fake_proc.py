"""The dallinger_run role's module `dallinger_run_lock`, its logic run here against
real files in a temporary folder and a fake /proc (made of files written by the test):
who holds the lock, when a holder counts as dead, what the history gets."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = Path(__file__).parents[2] / "roles/dallinger_run/library/dallinger_run_lock.py"
spec = importlib.util.spec_from_file_location("dallinger_run_lock", MODULE)
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)

ALICE = {
    "user": "alice",
    "machine": "laptop",
    "tool": "dlgr-ansible 0.1.0",
    "command": "dlgr-ansible deploy",
    "app": "stroop",
}
BOB = {"user": "bob", "machine": "desk", "tool": "t", "command": "dlgr-ansible destroy", "app": ""}


def fake_process(proc: Path, pid: int, name: str, parent: int, start: str) -> None:
    fields = ["S", str(parent)] + ["0"] * 17 + [start] + ["0"] * 10
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")


@pytest.fixture
def files(tmp_path):
    return {"lock_file": str(tmp_path / "deploy.lock"), "log_file": str(tmp_path / "deploys.log")}


def held(files, holder, now, mine, stale_after=3600):
    with open(files["lock_file"], "a+", encoding="utf-8") as handle:
        params = dict(files, holder=holder, stale_after=stale_after)
        return lock.take(handle, params, now, mine)


def released(files, token, now, record=None, started=0, facts=None):
    with open(files["lock_file"], "a+", encoding="utf-8") as handle:
        params = dict(files, token=token, record=record or {}, started=started)
        return lock.release(handle, params, now, facts or {})


def history(files) -> list[dict]:
    path = Path(files["log_file"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_session_is_the_nearest_sshd_ancestor_with_its_start_time(tmp_path):
    proc = tmp_path / "proc"
    fake_process(proc, 900, "sshd-session", 1, "555")
    fake_process(proc, 950, "sh", 900, "600")
    fake_process(proc, 990, "python3 (odd) name", 950, "601")
    assert lock.ssh_session(990, str(proc)) == {"pid": 900, "start": "555"}
    assert lock.session_alive({"pid": 900, "start": "555"}, str(proc))
    # The same pid started again later is another process: the holder is gone.
    assert not lock.session_alive({"pid": 900, "start": "554"}, str(proc))
    assert not lock.session_alive({"pid": 901, "start": "555"}, str(proc))


def test_no_ssh_session_when_no_ancestor_is_sshd(tmp_path):
    proc = tmp_path / "proc"
    fake_process(proc, 950, "dockerd", 1, "5")
    fake_process(proc, 990, "python3", 950, "6")
    assert lock.ssh_session(990, str(proc)) is None


def test_a_run_whose_ssh_session_is_gone_is_told_apart_from_one_without_ssh(tmp_path):
    """Stopped while the module started: its shell was left to init, so no ancestor is
    sshd although it came over SSH. It must not take the lock, which would then name no
    session and look alive for hours. Dropbear (no sshd) and a local connection keep the
    old rule."""
    proc = tmp_path / "proc"
    over_ssh = {"SSH_CONNECTION": "127.0.0.1 5000 127.0.0.2 22"}
    fake_process(proc, 950, "sh", 1, "600")
    fake_process(proc, 990, "python3", 950, "601")
    session = lock.ssh_session(990, str(proc))
    assert lock.caller_gone(session, over_ssh, 990, str(proc))
    assert not lock.caller_gone(session, {}, 990, str(proc))  # local or docker connection
    fake_process(proc, 800, "dropbear", 1, "500")
    fake_process(proc, 810, "dropbear", 800, "510")
    fake_process(proc, 850, "sh", 810, "520")
    fake_process(proc, 860, "python3", 850, "521")
    assert lock.ssh_session(860, str(proc)) is None
    assert not lock.caller_gone(None, over_ssh, 860, str(proc))
    assert not lock.caller_gone({"pid": 900, "start": "555"}, over_ssh, 990, str(proc))


def test_a_second_run_waits_while_the_holders_session_lives(files, monkeypatch):
    monkeypatch.setattr(lock, "session_alive", lambda session, proc="/proc": True)
    first = held(files, ALICE, 1000, {"pid": 10, "start": "1"})
    assert first["acquired"]
    assert first["took_over"] is None
    second = held(files, BOB, 1090, {"pid": 20, "start": "2"})
    assert not second["acquired"]
    assert "token" not in second["holder"]
    assert second["msg"] == (
        "The server's deploy lock is held by alice on laptop (dlgr-ansible deploy of stroop), "
        "since 1970-01-01T00:16:40Z (1 min ago)."
    )
    assert history(files) == []


def test_a_dead_holders_lock_is_taken_over_and_its_run_recorded(files, monkeypatch):
    held(files, ALICE, 1000, {"pid": 10, "start": "1"})
    monkeypatch.setattr(lock, "session_alive", lambda session, proc="/proc": False)
    second = held(files, BOB, 1300, {"pid": 20, "start": "2"})
    assert second["acquired"]
    assert second["took_over"]["user"] == "alice"
    assert "Took over the deploy lock of a run that is gone: alice on laptop" in second["msg"]
    [line] = history(files)
    assert line == {
        "time": "1970-01-01T00:21:40Z",
        "user": "alice",
        "machine": "laptop",
        "tool": "dlgr-ansible 0.1.0",
        "command": "dlgr-ansible deploy",
        "app": "stroop",
        "started": "1970-01-01T00:16:40Z",
        "result": "interrupted",
        "duration": 300,
    }


def test_processes_a_dead_session_left_are_found_by_its_connection(tmp_path):
    """A killed run's hand-over goes on under init: its environment still names the
    run's connection. The same connection under a live sshd, another connection (one
    port a prefix of the other's included), a zombie (its environment reads empty) and
    a process whose environment cannot be read are not leftovers."""
    proc = tmp_path / "proc"
    connection = "127.0.0.1 40000 127.0.0.2 22"
    environ = f"HOME=/home/dallinger\0SSH_CONNECTION={connection}\0PATH=/bin\0".encode()
    processes = {
        700: ("sh", 1, environ),
        710: ("docker", 700, environ),
        910: ("python3", 900, environ),  # under the live sshd 900
        720: ("sh", 1, environ.replace(b"40000", b"40001")),
        740: ("sh", 1, environ.replace(b" 22\0", b" 220\0")),
        750: ("sh", 1, b""),  # a zombie
        730: ("sh", 1, None),  # another user's: no environ to read
    }
    fake_process(proc, 900, "sshd-session", 1, "90")
    for pid, (name, parent, text) in processes.items():
        fake_process(proc, pid, name, parent, str(pid))
        if text is not None:
            (proc / str(pid) / "environ").write_bytes(text)
    (proc / "self").mkdir()
    assert lock.leftovers(connection, str(proc)) == ["docker (pid 710)", "sh (pid 700)"]
    assert lock.leftovers("", str(proc)) == []


def test_the_connection_is_read_from_an_ancestor_under_become(tmp_path):
    """sudo leaves SSH_CONNECTION out of the module's environment; the shell that ran
    sudo has it. No sshd above, or none of them having it: no connection."""
    proc = tmp_path / "proc"
    fake_process(proc, 900, "sshd-session", 1, "90")
    fake_process(proc, 950, "sh", 900, "95")
    (proc / "950" / "environ").write_bytes(b"SSH_CONNECTION=10.0.0.1 5000 10.0.0.2 22\0")
    fake_process(proc, 960, "sudo", 950, "96")  # root's: not readable here, no file
    fake_process(proc, 970, "python3", 960, "97")
    (proc / "970" / "environ").write_bytes(b"HOME=/root\0")
    assert lock.ssh_connection(970, str(proc)) == "10.0.0.1 5000 10.0.0.2 22"
    fake_process(proc, 980, "python3", 900, "98")
    assert lock.ssh_connection(980, str(proc)) == ""
    assert lock.ssh_connection(12345, str(proc)) == ""


def test_the_lock_waits_for_what_a_dead_holder_left_running(files, monkeypatch):
    session = {"pid": 10, "start": "1", "connection": "127.0.0.1 40000 127.0.0.2 22"}
    held(files, ALICE, 1000, session)
    monkeypatch.setattr(lock, "session_alive", lambda session, proc="/proc": False)
    seen = []

    def running(connection, proc="/proc"):
        seen.append(connection)
        return ["docker (pid 710)", "sh (pid 700)"]

    monkeypatch.setattr(lock, "leftovers", running)
    second = held(files, BOB, 1010, {"pid": 20, "start": "2", "connection": "x"})
    assert not second["acquired"]
    assert seen == [session["connection"]]  # /proc read once per try
    assert second["msg"].endswith(
        "Its SSH connection has closed, but commands it started still run on the server: "
        "docker (pid 710), sh (pid 700). The lock is free once they have ended."
    )
    # A command that hangs holds the lock no longer than stale_after from the run's start.
    expired = held(files, BOB, 1000 + 3601, {"pid": 20, "start": "2", "connection": "x"})
    assert expired["acquired"]
    assert expired["took_over"]["user"] == "alice"
    assert len(seen) == 1


def test_the_lock_is_taken_over_once_the_leftovers_ended(files, monkeypatch):
    held(files, ALICE, 1000, {"pid": 10, "start": "1", "connection": "c"})
    monkeypatch.setattr(lock, "session_alive", lambda session, proc="/proc": False)
    monkeypatch.setattr(lock, "leftovers", lambda connection, proc="/proc": [])
    third = held(files, BOB, 1020, {"pid": 20, "start": "2", "connection": "x"})
    assert third["acquired"]
    assert third["took_over"]["user"] == "alice"


def test_a_holder_sharing_this_runs_session_counts_as_alive(files, monkeypatch):
    monkeypatch.setattr(lock, "session_alive", lambda session, proc="/proc": False)
    session = {"pid": 10, "start": "1"}
    held(files, ALICE, 1000, session)
    assert not held(files, BOB, 1001, session)["acquired"]


def test_a_holder_without_ssh_session_is_dead_after_stale_after(files):
    held(files, ALICE, 1000, None)
    assert not held(files, BOB, 1000 + 3600, None)["acquired"]
    assert held(files, BOB, 1000 + 3601, None)["acquired"]


def test_a_half_written_lock_counts_as_free(files):
    Path(files["lock_file"]).write_text('{"user": "al')
    assert held(files, BOB, 5, None)["acquired"]


def test_release_frees_the_lock_and_appends_the_run(files):
    taken = held(files, ALICE, 1000, None)
    record = dict(ALICE, image="lab/exp:2", result="succeeded", started="x")
    facts = {"image_id": "sha256:abc", "digests": []}
    out = released(files, taken["token"], 1042, record, started=1000, facts=facts)
    assert "msg" not in out
    assert Path(files["lock_file"]).read_text() == ""
    [line] = history(files)
    assert line["duration"] == 42
    assert line["image_id"] == "sha256:abc"
    assert line["result"] == "succeeded"
    assert "digests" in line  # an empty list is kept: the image has no registry digest


def test_release_leaves_another_runs_lock_alone(files):
    held(files, ALICE, 1000, None)
    out = released(files, "not-the-token", 1001, dict(BOB, result="failed"))
    assert "taken over while it ran (now held by alice on laptop" in out["msg"]
    assert json.loads(Path(files["lock_file"]).read_text())["user"] == "alice"
    assert history(files)[0]["result"] == "failed"


def test_a_run_that_never_took_the_lock_only_records_itself(files):
    held(files, ALICE, 1000, None)
    out = released(files, "", 1700, dict(BOB, result="failed"))
    assert "msg" not in out
    assert json.loads(Path(files["lock_file"]).read_text())["user"] == "alice"


def test_history_lines_leave_out_empty_values():
    line = json.loads(lock.history_line({"app": "", "image": None, "result": "failed"}, 0))
    assert line == {"time": "1970-01-01T00:00:00Z", "result": "failed"}


class FakeModule:
    """Answers `docker image inspect` as Docker would, without Docker."""

    def __init__(self, rc, out, docker="/usr/bin/docker"):
        self.answer = (rc, out, "")
        self.argv = None
        self.docker = docker

    def get_bin_path(self, name):
        assert name == "docker"
        return self.docker

    def run_command(self, argv):
        self.argv = argv
        return self.answer


def test_the_image_is_named_by_id_and_digests_as_docker_reports_them():
    digests = '["lab/exp@sha256:' + "1" * 64 + '"]'
    module = FakeModule(0, f"sha256:{'a' * 64} {digests}\n")
    facts = lock.image_facts(module, "lab/exp:2")
    assert facts == {"image_id": f"sha256:{'a' * 64}", "digests": [f"lab/exp@sha256:{'1' * 64}"]}
    assert module.argv[-1] == "lab/exp:2"
    sent = lock.image_facts(FakeModule(0, f"sha256:{'b' * 64} []\n"), "lab/exp:3")
    assert sent["digests"] == []  # sent from the controller: no registry digest


def test_an_image_docker_does_not_know_adds_nothing():
    missing = FakeModule(1, "\n")
    assert lock.image_facts(missing, "lab/exp:9") == {}
    assert lock.image_facts(missing, "") == {}
    assert missing.argv is None or missing.argv[-1] == "lab/exp:9"


def test_a_server_without_docker_adds_nothing_and_runs_nothing():
    """Docker not installed yet (a prepare that failed early): the line is still written."""
    module = FakeModule(0, "", docker=None)
    assert lock.image_facts(module, "lab/exp:2") == {}
    assert module.argv is None


def test_taken_and_given_back_by_the_file_run_as_a_plain_script(tmp_path):
    """The action plugin sends the module's source to `python3 -c ... --script` and its
    arguments on stdin: no Ansible is imported, "~" is the server's, the token stays out
    of the process's arguments, and the result is one JSON line."""
    home = tmp_path / "home"
    paths = {"lock_file": "~/dallinger/deploy.lock", "log_file": "~/dallinger/deploys.log"}
    argv = [sys.executable, "-I", "-c", MODULE.read_text(), "--script"]
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}

    def run(params):
        done = subprocess.run(
            argv, input=json.dumps(params), env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout)

    taken = run({"state": "held", **paths, "holder": ALICE, "stale_after": 60})
    assert taken["acquired"]
    assert taken["holder"]["user"] == "alice"
    lock_file = home / "dallinger/deploy.lock"
    assert json.loads(lock_file.read_text())["token"] == taken["token"]
    assert oct(lock_file.stat().st_mode & 0o777) == "0o600"
    # No SSH session here: the holder counts as alive until stale_after.
    again = run({"state": "held", **paths, "holder": BOB, "stale_after": 60})
    assert not again["acquired"]
    assert "held by alice on laptop" in again["msg"]
    record = {"result": "succeeded", "image": "", "command": "dlgr-ansible deploy"}
    given = run({"state": "released", **paths, "token": taken["token"], "record": record})
    assert "msg" not in given
    assert lock_file.read_text() == ""
    line = json.loads((home / "dallinger/deploys.log").read_text())
    assert (line["result"], line["command"]) == ("succeeded", "dlgr-ansible deploy")
