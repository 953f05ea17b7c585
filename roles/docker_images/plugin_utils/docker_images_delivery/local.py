"""The image in the controller's Docker engine, through the Docker SDK for Python."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .archive import Layer, cut_archive
from .images import Image, image_from_attrs


class LocalImageError(Exception):
    """A message for the user about the controller's side; the cause is Docker's own error."""


@dataclass(frozen=True)
class LocalImage:
    handle: Any  # the SDK's docker.models.images.Image
    image: Image
    containerd_store: bool


def local_image(name: str) -> LocalImage:
    # Imported here: only sent images need the SDK on the controller.
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError as error:
        raise LocalImageError(
            "Sending images needs the Docker SDK for Python on the controller "
            "(pip install docker, in the Python that runs Ansible)."
        ) from error
    try:
        client = docker.from_env()
        driver = json.dumps(client.info().get("DriverStatus") or [])
        handle = client.images.get(name)
    except ImageNotFound as error:
        raise LocalImageError(
            f"The image {name} is not in the controller's Docker engine. Build or pull it "
            "there first."
        ) from error
    except DockerException as error:
        raise LocalImageError(
            f"Could not read the image {name} from the controller's Docker engine: {error}"
        ) from error
    return LocalImage(
        handle, image_from_attrs(handle.id, handle.attrs), "io.containerd.snapshotter" in driver
    )


def pack(
    local: LocalImage, directory: Path, present: frozenset[str], saved: Path | None = None
) -> tuple[Path, list[Layer]]:
    """A `docker save` cut down to `directory`/image.tar.gz without the layers whose chain
    IDs are in `present`. The save is `saved` when given (it stays), else made in
    `directory` and removed once cut."""
    own = saved is None
    if own:
        saved = directory / "image.tar"
        save(local, saved)
    packed = directory / "image.tar.gz"
    with packed.open("wb") as out:
        layers = cut_archive(saved, set(present), out)
    if own:
        saved.unlink()
    return packed, layers


def save(local: LocalImage, path: Path) -> None:
    from docker.errors import DockerException  # present: local_image imported it

    try:
        with path.open("wb") as out:
            for chunk in local.handle.save(named=False):
                out.write(chunk)
    except DockerException as error:
        raise LocalImageError(str(error)) from error


def presaved(saved_dir: Path, image_id: str, poll: float = 0.1) -> Path | None:
    """The complete save of `image_id` in `saved_dir`, waiting while it is being written
    (`<id>.tar.part`); None when there is none, or its writer gave up."""
    done = saved_dir / (image_id.removeprefix("sha256:") + ".tar")
    part = done.with_name(done.name + ".part")
    while True:
        if done.is_file():
            return done
        if not part.exists():
            # Renamed between the two looks, or never there.
            return done if done.is_file() else None
        time.sleep(poll)
