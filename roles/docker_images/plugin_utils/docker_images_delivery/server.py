"""The shell commands the plugin runs on the server, reading their answer, and what to do
there. Every command is one string for the task's own connection (a POSIX shell)."""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from .archive import chain_ids
from .images import IMAGE_FORMAT, Image, parse_image

# Separates the parts of the one command that inspects the server.
MARK = "--dlgr-images--"

# Uploads on the server and the archive on the controller: an interrupted run leaves
# directories with this prefix, which the next run (server) or the OS (controller) removes.
UPLOAD_PREFIX = "dlgr-image-"


def server_query(names: list[str], upload_parent: str) -> str:
    """One command: clear old uploads, then the image store kind, each wanted image and
    every image the server holds."""
    parent = shlex.quote(upload_parent)
    wanted = [
        f"docker image inspect --format {IMAGE_FORMAT} {shlex.quote(name)} 2>/dev/null; echo {MARK}"
        for name in names
    ]
    return "; ".join(
        [
            f"find {parent} -maxdepth 1 -name '{UPLOAD_PREFIX}*' -user \"${{SUDO_UID:-$(id -u)}}\" -mmin +60"
            " -exec rm -rf {} + 2>/dev/null",
            "docker info --format '{{json .DriverStatus}}' || exit 3",
            f"echo {MARK}",
            *wanted,
            # An image removed meanwhile is no reason to fail.
            "docker image ls --all --quiet --no-trunc | sort -u"
            f" | xargs -r docker image inspect --format {IMAGE_FORMAT} 2>/dev/null || true",
        ]
    )


@dataclass(frozen=True)
class ServerImages:
    containerd_store: bool
    current: Image | None  # the image under the wanted name
    images: list[Image]
    chains: set[str]

    def holds(self, image: Image, loosely: bool) -> Image | None:
        """The server's copy of this build, under any name."""
        return next((held for held in self.images if held.same_build(image, loosely)), None)


def parse_server(output: str, names: list[str]) -> dict[str, ServerImages]:
    """The answer to server_query(names), by wanted name; ValueError when it is not one."""
    parts = output.split(MARK)
    if len(parts) != len(names) + 2:
        raise ValueError("unexpected answer")
    images = [image for line in parts[-1].splitlines() if (image := parse_image(line))]
    chains: set[str] = set()
    for image in images:
        chains.update(chain_ids(list(image.diff_ids)))
    containerd_store = "io.containerd.snapshotter" in parts[0]
    return {
        name: ServerImages(
            containerd_store=containerd_store,
            current=parse_image(part),
            images=images,
            chains=chains,
        )
        for name, part in zip(names, parts[1:-1], strict=True)
    }


@dataclass(frozen=True)
class Step:
    """What the server needs for the wanted name: nothing, a name for a build it holds
    under another one, or the image sent."""

    kind: str  # "nothing", "name" or "send"
    held_id: str = ""  # name: the server's ID of the build
    # send: the chain IDs the archive may leave out (none for a containerd store, which
    # takes whole images only).
    present: frozenset[str] = field(default_factory=frozenset)
    whole: bool = False


def next_step(image: Image, server: ServerImages, local_containerd: bool) -> Step:
    """Either engine with a containerd store gives the same build another ID."""
    loosely = server.containerd_store or local_containerd
    if server.current is not None and server.current.same_build(image, loosely):
        return Step("nothing")
    held = server.holds(image, loosely)
    if held is not None:
        return Step("name", held_id=held.id)
    if server.containerd_store:
        return Step("send", whole=True)
    return Step("send", present=frozenset(server.chains))


def tag_command(image_id: str, name: str) -> str:
    return f"docker tag {shlex.quote(image_id)} {shlex.quote(name)}"


def upload_dir_command(upload_parent: str) -> str:
    """Makes a private directory for one upload and prints its path."""
    parent = shlex.quote(upload_parent)
    return f"umask 077 && mkdir -p {parent} && mktemp -d {parent}/{UPLOAD_PREFIX}XXXXXXXX"


def is_upload_dir(path: str, upload_parent: str) -> bool:
    """Whether `path` (upload_dir_command's answer) may be removed as an upload."""
    return path.startswith(posixpath.join(upload_parent, UPLOAD_PREFIX))


def load_command(upload: str, name: str) -> str:
    """Loads the archive and only then names the image: a failed load leaves no name
    pointing at a part. The ID comes from docker load, as the containerd image store has
    its own."""
    return (
        f"loaded=$(docker load --quiet --input {shlex.quote(upload)})"
        ' && id=${loaded##*Loaded image ID: } && test -n "$id"'
        f' && docker tag "$id" {shlex.quote(name)}'
    )


def remove_command(path: str) -> str:
    return f"rm -rf {shlex.quote(path)}"
