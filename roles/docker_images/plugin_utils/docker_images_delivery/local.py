"""The image in the controller's Docker engine, through the Docker SDK for Python."""

from __future__ import annotations

import json
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


def pack(local: LocalImage, directory: Path, present: frozenset[str]) -> tuple[Path, list[Layer]]:
    """`docker save` into `directory`, cut down to image.tar.gz without the layers whose
    chain IDs are in `present`; the whole save is removed once cut."""
    from docker.errors import DockerException  # present: local_image imported it

    saved = directory / "image.tar"
    try:
        with saved.open("wb") as out:
            for chunk in local.handle.save(named=False):
                out.write(chunk)
    except DockerException as error:
        raise LocalImageError(str(error)) from error
    packed = directory / "image.tar.gz"
    with packed.open("wb") as out:
        layers = cut_archive(saved, set(present), out)
    saved.unlink()
    return packed, layers
