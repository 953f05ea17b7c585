"""A run's own SSH control directory: made fresh, closed and removed at the end, with
real directories and a real (masterless) socket; old leftovers removed."""

import os
import socket
import time

from dlgr_ansible.connections import PREFIX, STALE_SECONDS, own_connections


def test_each_run_gets_a_fresh_private_directory_removed_at_the_end(tmp_path):
    with own_connections(tmp_path) as first, own_connections(tmp_path) as second:
        assert first != second
        assert first.parent == tmp_path
        assert first.name.startswith(PREFIX)
        assert oct(first.stat().st_mode & 0o777) == "0o700"
        # A socket no master listens on any more: closing it is harmless.
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(first / "0123456789"))
        listener.close()
    assert list(tmp_path.iterdir()) == []


def test_directories_left_by_interrupted_runs_go_after_a_day(tmp_path):
    old, recent, other = tmp_path / f"{PREFIX}old", tmp_path / f"{PREFIX}new", tmp_path / "x"
    for directory in (old, recent, other):
        directory.mkdir()
    long_ago = time.time() - STALE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    with own_connections(tmp_path):
        pass
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{PREFIX}new", "x"]
