"""A killed run's private data dir is removed by the next run, after its straggling
ansible-playbook (a stand-in process) is stopped and its SSH connection directory
removed; no other dir is."""

import os
import subprocess
import sys
import time
from pathlib import Path

from dlgr_ansible import abandoned
from dlgr_ansible.abandoned import OWNER_FILE
from dlgr_ansible.connections import PREFIX as CONNECTIONS_PREFIX

PREFIX = "dlgr-ansible-"


def _dir(base, name, owner=None):
    directory = base / name
    directory.mkdir(mode=0o700)
    (directory / "vars.json").write_text("{}")
    if owner is not None:
        (directory / OWNER_FILE).write_text(str(owner))
    return directory


def _ended_pid() -> int:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(ended.stdout)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"  # killed, not yet reaped


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def test_only_dirs_of_runs_that_are_gone_are_removed(tmp_path):
    killed = _dir(tmp_path, "dlgr-ansible-killed", owner=_ended_pid())
    running = _dir(tmp_path, "dlgr-ansible-running", owner=os.getpid())
    kept = _dir(tmp_path, "dlgr-ansible-kept")  # --keep-artifacts: no owner file
    garbled = _dir(tmp_path, "dlgr-ansible-garbled", owner="not a pid")
    init = _dir(tmp_path, "dlgr-ansible-init", owner=1)
    other = _dir(tmp_path, "something-else", owner=_ended_pid())

    abandoned.remove(tmp_path, PREFIX)

    assert not killed.exists()
    assert all(path.is_dir() for path in (running, kept, garbled, init, other))


# Stands in for ansible-playbook: its own session (as pexpect starts it), given a
# variables file in the dir, with a forked worker in a session of its own (as Ansible's
# WorkerProcess does) whose child, an ssh client, names nothing.
STRAGGLER = """
import os, subprocess, sys, time
if os.fork() == 0:
    os.setsid()
    ssh = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print(os.getpid(), ssh.pid, flush=True)
    time.sleep(120)
    os._exit(0)
time.sleep(120)
"""


def test_a_straggling_playbook_its_workers_and_their_groups_are_stopped(tmp_path):
    killed = _dir(tmp_path, "dlgr-ansible-killed", owner=_ended_pid())
    straggler = subprocess.Popen(
        [sys.executable, "-c", STRAGGLER, "-e", f"@{killed / 'vars.json'}"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    # Reading the dead run's files is not running it: `tail` of its log stays.
    reader = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", str(killed / "vars.json")],
        start_new_session=True,
    )
    worker = ssh = None
    try:
        worker, ssh = (int(pid) for pid in straggler.stdout.readline().split())

        abandoned.remove(tmp_path, PREFIX)

        assert straggler.wait(timeout=10) == -9
        assert _wait_gone(worker)
        assert _wait_gone(ssh)
        assert reader.poll() is None
        assert not killed.exists()
    finally:
        for pid in (worker, ssh):
            if pid is not None and not _gone(pid):
                os.kill(pid, 9)
        for process in (straggler, reader):
            process.kill()
            process.wait()


def test_a_half_done_removal_keeps_the_owner_file_for_the_next_run(tmp_path, monkeypatch):
    killed = _dir(tmp_path, "dlgr-ansible-killed", owner=_ended_pid())
    (killed / "saved").mkdir()
    (killed / "saved" / "image.tar").write_text("layers")
    real_rmtree = abandoned.shutil.rmtree
    monkeypatch.setattr(abandoned.shutil, "rmtree", lambda *args, **kwargs: None)

    abandoned.remove(tmp_path, PREFIX)

    assert (killed / OWNER_FILE).exists()
    monkeypatch.setattr(abandoned.shutil, "rmtree", real_rmtree)
    abandoned.remove(tmp_path, PREFIX)
    assert not killed.exists()


def test_without_ps_the_processes_come_from_proc(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ps
    killed = _dir(tmp_path, "dlgr-ansible-killed", owner=_ended_pid())
    straggler = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", f"@{killed / 'vars.json'}"],
        start_new_session=True,
    )
    try:
        abandoned.remove(tmp_path, PREFIX)
        try:
            assert straggler.wait(timeout=10) == -9
        except subprocess.TimeoutExpired:
            # Failed once in a loaded rehearsal, unexplained: say what the sweep saw.
            listed = [p for p in abandoned._proc_processes() if p[0] == straggler.pid]
            owner_file = killed / OWNER_FILE
            owner = int(owner_file.read_text()) if owner_file.exists() else None
            raise AssertionError(
                f"not stopped; /proc lists it as {listed}; dir left: {killed.exists()}, "
                f"its owner {owner} alive: {owner is not None and abandoned._alive(owner)}"
            ) from None
    finally:
        straggler.kill()
        straggler.wait()


def test_the_killed_runs_connection_directory_goes_with_it(tmp_path):
    killed = _dir(tmp_path, "dlgr-ansible-killed", owner=_ended_pid())
    control_dir = tmp_path / f"{CONNECTIONS_PREFIX}abc"
    control_dir.mkdir(mode=0o700)
    (control_dir / "not-a-socket").write_text("")
    abandoned.note_connections(killed, control_dir)
    unrelated = tmp_path / "not-ours"
    unrelated.mkdir()
    running = _dir(tmp_path, "dlgr-ansible-running", owner=os.getpid())
    abandoned.note_connections(running, unrelated)

    abandoned.remove(tmp_path, PREFIX)

    assert not killed.exists()
    assert not control_dir.exists()
    assert unrelated.is_dir()


def test_a_kept_dir_names_no_owner(tmp_path):
    kept = _dir(tmp_path, "dlgr-ansible-kept")
    abandoned.mark(kept)
    abandoned.note_connections(kept, tmp_path / f"{CONNECTIONS_PREFIX}x")
    abandoned.unmark(kept)
    assert sorted(p.name for p in kept.iterdir()) == ["vars.json"]
