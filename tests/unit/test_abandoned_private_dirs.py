"""A killed run's private data dir is removed by the next run; no other dir is."""

import os
import subprocess
import sys

from dlgr_ansible.runner import OWNER_FILE, remove_abandoned


def _dir(base, name, owner=None):
    directory = base / name
    directory.mkdir(mode=0o700)
    (directory / "vars.json").write_text("{}")
    if owner is not None:
        (directory / OWNER_FILE).write_text(str(owner))
    return directory


def test_only_dirs_of_runs_that_are_gone_are_removed(tmp_path):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    killed = _dir(tmp_path, "dlgr-ansible-killed", owner=int(ended.stdout))
    running = _dir(tmp_path, "dlgr-ansible-running", owner=os.getpid())
    kept = _dir(tmp_path, "dlgr-ansible-kept")  # --keep-artifacts: no owner file
    garbled = _dir(tmp_path, "dlgr-ansible-garbled", owner="not a pid")
    other = _dir(tmp_path, "something-else", owner=int(ended.stdout))

    remove_abandoned(tmp_path)

    assert not killed.exists()
    assert all(path.is_dir() for path in (running, kept, garbled, other))
