"""dlgr_ansible.presave against a fake Docker SDK (no Docker engine): what it leaves for
the docker_images role to find, and that it stops when the run ends. The role's side is
in test_image_send_action_fake.py; a real deploy in tests/e2e/test_lifecycle.py."""

import threading
from types import SimpleNamespace

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from dlgr_ansible import presave


class FakeEngine:
    def __init__(self, chunks, gate: threading.Event | None = None):
        self.chunks, self.gate, self.closed = chunks, gate, False
        self.images = self

    def get(self, name):
        if name != "lab/exp:1":
            raise ImageNotFound(name)
        return SimpleNamespace(id="sha256:abc", save=self.save)

    def save(self, named):
        assert named is False
        for number, chunk in enumerate(self.chunks):
            if number and self.gate is not None:
                self.gate.wait()
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    def close(self):
        self.closed = True


def test_the_image_is_saved_under_its_id_once_complete(tmp_path, monkeypatch):
    engine = FakeEngine([b"one", b"two"])
    monkeypatch.setattr(docker, "from_env", lambda: engine)
    with presave.saving(["not/here:1", "lab/exp:1"], tmp_path):
        for _ in range(500):  # as the role waits for it
            if (tmp_path / "abc.tar").exists():
                break
            threading.Event().wait(0.01)
    assert (tmp_path / "abc.tar").read_bytes() == b"onetwo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc.tar"]
    assert engine.closed


def test_a_save_still_going_when_the_run_ends_is_stopped_and_leaves_nothing(tmp_path, monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(docker, "from_env", lambda: FakeEngine([b"one", b"two", b"3"], gate))
    with presave.saving(["lab/exp:1"], tmp_path):
        while not (tmp_path / "abc.tar.part").exists():
            threading.Event().wait(0.01)
        # The role would be waiting for abc.tar now.
        threading.Timer(0.1, gate.set).start()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failure", ["engine", "stream"])
def test_a_save_that_fails_leaves_nothing_so_the_role_saves_itself(tmp_path, monkeypatch, failure):
    if failure == "engine":

        def from_env():
            raise DockerException("Docker is not running")

        monkeypatch.setattr(docker, "from_env", from_env)
    else:
        engine = FakeEngine([b"one", DockerException("the engine went away")])
        monkeypatch.setattr(docker, "from_env", lambda: engine)
    with presave.saving(["lab/exp:1"], tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


def test_no_images_start_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(docker, "from_env", lambda: pytest.fail("Docker was asked"))
    with presave.saving([], tmp_path):
        pass
