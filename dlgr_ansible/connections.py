"""Each run's own SSH connections (Ansible's ControlMaster sockets), closed when it ends.

The server's deploy lock counts its holder alive while the SSH session it took the lock
over lives (roles/dallinger_run). Runs sharing Ansible's default ~/.ansible/cp would
share that session, so a dead run would look alive for as long as the next one keeps
the connection busy. A directory of the run's own avoids that. It is made in /tmp, as
ssh-agent makes its own, unpredictably named and 0700: a socket's path has at most 107
bytes, and $TMPDIR or $HOME may be long; closing the masters at the end, also after Ctrl-C,
lets the next run take the lock of an interrupted one at once (or once the command it
left running on the server has ended). Only a run killed outright leaves its master
behind, until ControlPersist (60 s) ends it.
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "dlgr-cp-"
SHORT_BASE = Path("/tmp")  # noqa: S108 mkdtemp in it: a private directory
# Directories an interrupted run left behind (a straggling Ansible worker can make its
# directory again after the run removed it) go after a day.
STALE_SECONDS = 24 * 3600


@contextmanager
def own_connections(base: Path | None = None) -> Iterator[Path]:
    """A fresh directory for ANSIBLE_SSH_CONTROL_PATH_DIR; the masters in it are told to
    exit, and it is removed, when the block ends."""
    base = base or SHORT_BASE
    _remove_stale(base)
    directory = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    try:
        yield directory
    finally:
        close(directory)
        shutil.rmtree(directory, ignore_errors=True)


def close(directory: Path) -> None:
    for socket in directory.iterdir() if directory.is_dir() else ():
        if socket.is_socket():
            # The host name is not used: -O talks to the master behind the socket.
            subprocess.run(
                ["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "master"],
                capture_output=True,
                timeout=10,
                check=False,
            )


def _remove_stale(base: Path) -> None:
    now = time.time()
    for directory in base.glob(f"{PREFIX}*"):
        try:
            found = directory.lstat()
        except OSError:
            continue
        mine = found.st_uid == os.getuid() and directory.is_dir() and not directory.is_symlink()
        if mine and now - found.st_mtime > STALE_SECONDS:
            shutil.rmtree(directory, ignore_errors=True)
