"""What a run killed outright (SIGKILL, a lost terminal) leaves on this machine, and its
removal by the next run.

While a run is on, its private data dir names the CLI's process (owner.pid) and the
directory of its SSH connections (connections.path). ansible-runner starts
ansible-playbook in a session of its own, and Ansible's workers each start one more, so
killing the CLI stops none of them: they would hold the server's deploy lock until they
ended, and keep writing into the dir while the next run removes it (leaving a dir
without an owner file, which looks kept). So the next run stops them as a Ctrl-C does
(each one's process group), closes their SSH connections, and only then removes the dir,
its owner file last.
"""

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
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
    """Stop and remove what this user's runs that were killed left in `base`. Nothing
    here may stop the run that asks: what fails is tried again by the next one."""
    for directory in base.glob(f"{prefix}*"):
        try:
            found = directory.lstat()
            owner = int((directory / OWNER_FILE).read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue  # kept for debugging, another user's, or not ours at all
        mine = found.st_uid == os.getuid() and not directory.is_symlink()
        if not mine or owner <= 1 or _alive(owner):
            continue
        with contextlib.suppress(OSError, subprocess.SubprocessError, OverflowError):
            _stop_processes(directory)
            _close_connections(directory)
            remove_dir(directory)


def remove_dir(directory: Path) -> None:
    """Remove a private data dir, its owner file last: a removal that stops half way
    leaves it, so the next run tries again instead of taking the rest for a kept dir."""
    for entry in directory.iterdir():
        if entry.name == OWNER_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if sorted(p.name for p in directory.iterdir()) in ([], [OWNER_FILE]):
        (directory / OWNER_FILE).unlink(missing_ok=True)
        directory.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user's has that pid now
    return True


def _stop_processes(directory: Path) -> None:
    """SIGKILL to each process group led by a process of the user's that was given a
    variables file in the dir (`-e @DIR/vars.json`: ansible-playbook and its forked
    workers, whose groups hold their ssh clients), as ansible-runner does on a Ctrl-C."""
    needle = f"@{directory}{os.sep}"
    for pid, pgid, args in _processes():
        if needle not in args:
            continue
        with contextlib.suppress(OSError):
            # A group led by it is its own; anything else only loses that one process.
            if pid == pgid:
                os.killpg(pgid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


def _processes() -> Iterator[tuple[int, int, str]]:
    """(pid, process group, command line) of this user's processes: from `ps` (macOS has
    no /proc), else from /proc."""
    try:
        listed = subprocess.run(
            ["ps", "-ww", "-o", "pid=,pgid=,args=", "-U", str(os.getuid())],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        yield from _proc_processes()
        return
    for line in listed.splitlines():
        pid, pgid, args = [*line.split(None, 2), "", "", ""][:3]
        if pid.isdigit() and pgid.isdigit():
            yield int(pid), int(pgid), args


def _proc_processes() -> Iterator[tuple[int, int, str]]:
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            pgid = os.getpgid(int(entry.name))
        except (OSError, ValueError):
            continue
        yield int(entry.name), pgid, args


def _close_connections(directory: Path) -> None:
    try:
        control_dir = Path((directory / CONNECTIONS_FILE).read_text(encoding="utf-8"))
    except OSError:
        return
    if control_dir.name.startswith(connections.PREFIX) and control_dir.is_dir():
        connections.close(control_dir)
        shutil.rmtree(control_dir, ignore_errors=True)
