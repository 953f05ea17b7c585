"""`docker save` of the images a run sends, started before the playbook reaches them.

A `docker save` writes every layer of the image, the unchanged ones too: seconds for a
few hundred MB, whatever the server lacks. Saved here while the playbook logs in, takes
the lock and looks at the server, it is ready (or nearly) when the docker_images role
needs it, which then only cuts out the layers the server lacks. The role finds it
through `docker_images_saved_dir`, as `<image id>.tar`; while it is being written it is
`<image id>.tar.part`, and a save that fails or is stopped leaves neither, so the role
saves the image itself (as plain `ansible-playbook` runs always do).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
from docker.errors import DockerException


def saved_name(image_id: str) -> str:
    """The file the role looks for: the id without its algorithm."""
    return image_id.removeprefix("sha256:") + ".tar"


class _Save(threading.Thread):
    def __init__(self, names: list[str], directory: Path):
        super().__init__(name="dlgr-presave", daemon=True)
        self.names, self.directory = names, directory
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            client = docker.from_env()
        except DockerException:
            return  # the role saves the image itself, and says what is wrong
        try:
            for name in self.names:
                if self.stopping.is_set():
                    return
                self._save(client, name)
        finally:
            client.close()

    def _save(self, client, name: str) -> None:
        try:
            image = client.images.get(name)
        except DockerException:
            return
        done = self.directory / saved_name(image.id)
        part = done.with_name(done.name + ".part")
        try:
            with part.open("xb") as out:
                for chunk in image.save(named=False):
                    if self.stopping.is_set():
                        raise InterruptedError
                    out.write(chunk)
            part.rename(done)
        except (DockerException, OSError):
            part.unlink(missing_ok=True)


@contextlib.contextmanager
def saving(names: list[str], directory: Path) -> Iterator[None]:
    """Saves `names` into `directory` (which must exist and stay private) in the
    background while the block runs; a save still going when it ends is stopped."""
    if not names:
        yield
        return
    save = _Save(list(names), directory)
    save.start()
    try:
        yield
    finally:
        save.stopping.set()
        save.join()
