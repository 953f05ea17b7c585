"""An image as the controller's and the server's Docker engines describe it."""

from __future__ import annotations

import json
from dataclasses import dataclass

# The settings a build can change without a new layer.
SETTINGS = ("Env", "Cmd", "Entrypoint", "Labels", "WorkingDir", "User")

# `docker image inspect --format` for one line per image: ID, creation time, layers (diff
# IDs) and the SETTINGS; parse_image reads it back.
IMAGE_FORMAT = (
    "'{{.Id}} {{.Created}} {{json .RootFS.Layers}} ["
    + ",".join(f"{{{{json .Config.{key}}}}}" for key in SETTINGS)
    + "]'"
)


@dataclass(frozen=True)
class Image:
    id: str
    # The containerd image store shows another ID (its manifest's digest) for the same
    # build, so there a build is recognised by its creation time, layers and settings.
    build: tuple
    diff_ids: tuple[str, ...]

    def same_build(self, other: Image, loosely: bool) -> bool:
        return self.id == other.id or (loosely and self.build == other.build)


def image_from(image_id: str, created: str, diff_ids: list, settings: list) -> Image:
    layers = tuple(diff_ids or [])
    # Stores differ in writing an unset setting as null or as empty.
    build = (created, layers, *(json.dumps(value or None, sort_keys=True) for value in settings))
    return Image(image_id, build, layers)


def image_from_attrs(image_id: str, attrs: dict) -> Image:
    """From the Docker API's image inspect (the SDK's `Image.attrs`)."""
    return image_from(
        image_id,
        attrs.get("Created", ""),
        (attrs.get("RootFS") or {}).get("Layers") or [],
        [(attrs.get("Config") or {}).get(key) for key in SETTINGS],
    )


def parse_image(line: str) -> Image | None:
    """One line of IMAGE_FORMAT; None for anything else (an empty line, a message)."""
    image_id, created, rest = ([*line.strip().split(" ", 2), "", ""])[:3]
    if not image_id.startswith("sha256:") or not rest:
        return None
    diff_ids, end = json.JSONDecoder().raw_decode(rest)
    return image_from(image_id, created, diff_ids, json.loads(rest[end:].strip() or "[]"))
