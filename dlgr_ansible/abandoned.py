"""What a run killed outright (SIGKILL, a lost terminal) leaves on this machine, and its
removal by the next run.

While a run is on, its private data dir names the CLI's process (owner.pid) and the
directory of its SSH connections (connections.path). ansible-runner starts
ansible-playbook in a session of its own, so killing the CLI does not stop it: it would
hold the server's deploy lock until it ended and keep writing into the dir while the
next run removes it (leaving a dir without an owner file, which looks kept). So the next
run stops it as a Ctrl-C does (its whole process group), closes its SSH connections, and
only then removes the dir, its owner file last.
"""

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from dlgr_ansible import connections

OWNER_FILE = "owner.pid"  # only while the run is on: a kept dir has none, so stays
CONNECTIONS_FILE = "connections.path"


def mark(private_dir: Path) -> None:
    """Name this process as the dir's owner."""
    (private_dir / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")


def note_connections(private_dir: Path, control_dir: Path) -> None:
    (private_dir / CONNECTIONS_FILE).write_text(str(control_dir), encoding="utf-8")


def unmark(private_dir: Path) -> None:
    """The dir is kept: no later run may take it for abandoned."""
    (private_dir / OWNER_FILE).unlink(missing_ok=True)
    (private_dir / CONNECTIONS_FILE).unlink(missing_ok=True)


def remove(base: Path, prefix: str) -> None:
    """Stop and remove what this user's runs that were killed left in `base`."""
    for directory in base.glob(f"{prefix}*"):
        try:
            found = directory.lstat()
            owner = int((directory / OWNER_FILE).read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue  # kept for debugging, another user's, or not ours at all
        mine = found.st_uid == os.getuid() and not directory.is_symlink()
        if mine and not _alive(owner):
            _stop_processes(directory)
            _close_connections(directory)
            with contextlib.suppress(OSError):  # tried again by the next run
                _remove_owner_last(directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user's has that pid now
    return True


def _stop_processes(directory: Path) -> None:
    """SIGKILL to the process groups of this user's processes whose command line names
    the dir (ansible-playbook is given its inventory and variables file there), as
    ansible-runner does on a Ctrl-C. `ps` rather than /proc: researchers run macOS too."""
    try:
        listed = subprocess.run(
            ["ps", "-ww", "-o", "pid=,pgid=,args=", "-U", str(os.getuid())],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return  # no ps: the dir is still removed; a straggler only delays the next lock
    needle = f"{directory}{os.sep}"
    for line in listed.splitlines():
        pid, pgid, args = [*line.split(None, 2), "", "", ""][:3]
        if needle not in args or not pid.isdigit() or not pgid.isdigit():
            continue
        try:
            # A group led by the straggler is its own (workers, ssh clients); anything
            # else only loses that one process.
            if pid == pgid:
                os.killpg(int(pgid), signal.SIGKILL)
            else:
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            continue


def _close_connections(directory: Path) -> None:
    try:
        control_dir = Path((directory / CONNECTIONS_FILE).read_text(encoding="utf-8"))
    except OSError:
        return
    if control_dir.name.startswith(connections.PREFIX) and control_dir.is_dir():
        connections.close(control_dir)
        shutil.rmtree(control_dir, ignore_errors=True)


def _remove_owner_last(directory: Path) -> None:
    """A removal that fails half way leaves the owner file, so the next run tries again
    instead of taking the rest for a kept dir."""
    for entry in directory.iterdir():
        if entry.name == OWNER_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if sorted(p.name for p in directory.iterdir()) == [OWNER_FILE]:
        (directory / OWNER_FILE).unlink(missing_ok=True)
        directory.rmdir()
