"""Send an image from the controller's Docker engine to the server: only the layers it lacks.

An action plugin, not a module: it runs on the controller and talks to the server through
the task's own connection (same key, same host-key checking), with plain shell commands.
A module would ship some 200 KB of AnsiballZ per call, more than a changed layer often is.

`docker load` (classic image store, Docker 20.10 to 26 at least) looks a layer up by its
chain ID before it opens that layer's file in the archive, and needs the file only when
the layer is missing. So an archive holding manifest.json, the image config and only the
missing layers loads on a server that has the others, and the image keeps its ID. Once
one layer is missing, every layer above it must be sent: a chain ID covers the layer and
all layers below it (moby image/tarexport/load.go).

The containerd image store (Docker 29's default on new installs) resolves layers by
their content and rejects such archives, so those servers get the whole image.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import posixpath
import shlex
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleError
from ansible.plugins.action import ActionBase

# Separates the parts of the one command that inspects the server.
_MARK = "--dlgr-images--"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ID of each layer: its own diff ID on top of the chain below it."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            digest = hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest()
            chains.append(f"sha256:{digest}")
    return chains


@dataclass(frozen=True)
class Layer:
    diff_id: str
    size: int  # uncompressed, as in the saved archive
    sent: bool


def cut_archive(saved: Path, present: set[str], out: BinaryIO) -> list[Layer]:
    """Write `saved` (a `docker save` of one image) to `out` as a gzip'd tar without the
    layers whose chain IDs are in `present` (the server's)."""
    with tarfile.open(saved) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        if len(manifest) != 1:
            raise ValueError(f"{saved} holds {len(manifest)} images; save one at a time")
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        diff_ids = config["rootfs"]["diff_ids"]
        layer_files = manifest[0]["Layers"]
        if len(diff_ids) != len(layer_files):
            raise ValueError(f"{saved}: the manifest and the image config disagree on layers")
        first_missing = next(
            (i for i, chain in enumerate(chain_ids(diff_ids)) if chain not in present),
            len(diff_ids),
        )
        # A layer used twice (empty layers often are) is one file, or a symlink to the
        # first copy: keep whatever a sent layer needs.
        needed = set(layer_files[first_missing:])
        for member in archive.getmembers():
            if member.name in needed and member.issym():
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
                needed.add(posixpath.normpath(target))
        skip = set(layer_files[:first_missing]) - needed
        sizes = {}
        # mtime=0: the same cut gives the same bytes, which keeps transfers comparable.
        with (
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as packed,
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as cut,
        ):
            for member in archive:
                sizes[member.name] = member.size
                if member.name in skip:
                    continue
                source = archive.extractfile(member) if member.isfile() else None
                cut.addfile(member, source)
                if source is not None:
                    source.close()
    return [
        Layer(diff_id, sizes.get(name, 0), sent=i >= first_missing)
        for i, (diff_id, name) in enumerate(zip(diff_ids, layer_files, strict=True))
    ]


# An image as `docker image inspect` shows it: ID, creation time, layers (diff IDs) and
# the settings a build can change without a new layer.
_SETTINGS = ("Env", "Cmd", "Entrypoint", "Labels", "WorkingDir", "User")
_IMAGE_FORMAT = (
    "'{{.Id}} {{.Created}} {{json .RootFS.Layers}} ["
    + ",".join(f"{{{{json .Config.{key}}}}}" for key in _SETTINGS)
    + "]'"
)


def server_query(name: str, upload_parent: str) -> str:
    """One command: clear old uploads, then the image store kind, the wanted image and
    every image the server holds."""
    parent = shlex.quote(upload_parent)
    return "; ".join(
        [
            f"find {parent} -maxdepth 1 -name 'dlgr-image-*' -user \"${{SUDO_UID:-$(id -u)}}\" -mmin +60"
            " -exec rm -rf {} + 2>/dev/null",
            "docker info --format '{{json .DriverStatus}}' || exit 3",
            f"echo {_MARK}",
            f"docker image inspect --format {_IMAGE_FORMAT} {shlex.quote(name)} 2>/dev/null",
            f"echo {_MARK}",
            # An image removed meanwhile is no reason to fail.
            "docker image ls --all --quiet --no-trunc | sort -u"
            f" | xargs -r docker image inspect --format {_IMAGE_FORMAT} 2>/dev/null || true",
        ]
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


def parse_image(line: str) -> Image | None:
    image_id, created, rest = ([*line.strip().split(" ", 2), "", ""])[:3]
    if not image_id.startswith("sha256:") or not rest:
        return None
    diff_ids, end = json.JSONDecoder().raw_decode(rest)
    return image_from(image_id, created, diff_ids, json.loads(rest[end:].strip() or "[]"))


@dataclass(frozen=True)
class ServerImages:
    containerd_store: bool
    current: Image | None  # the image under the wanted name
    images: list[Image]
    chains: set[str]

    def holds(self, image: Image, loosely: bool) -> Image | None:
        """The server's copy of this build, under any name."""
        return next((held for held in self.images if held.same_build(image, loosely)), None)


def parse_server(output: str) -> ServerImages:
    parts = output.split(_MARK)
    if len(parts) != 3:
        raise ValueError("unexpected answer")
    images = [image for line in parts[2].splitlines() if (image := parse_image(line))]
    chains: set[str] = set()
    for image in images:
        chains.update(chain_ids(list(image.diff_ids)))
    return ServerImages(
        containerd_store="io.containerd.snapshotter" in parts[0],
        current=parse_image(parts[1]),
        images=images,
        chains=chains,
    )


def _local_image(name: str):
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError as error:
        raise AnsibleActionFail(
            "Sending images needs the Docker SDK for Python on the controller "
            "(pip install docker, in the Python that runs Ansible)."
        ) from error
    try:
        client = docker.from_env()
        driver = json.dumps(client.info().get("DriverStatus") or [])
        return client.images.get(name), "io.containerd.snapshotter" in driver
    except ImageNotFound as error:
        raise AnsibleActionFail(
            f"The image {name} is not in the controller's Docker engine. Build or pull it "
            "there first."
        ) from error
    except DockerException as error:
        raise AnsibleActionFail(
            f"Could not read the image {name} from the controller's Docker engine: {error}"
        ) from error


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("name", "upload_parent"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        started = time.monotonic()
        name = self._task.args.get("name")
        # On the server; uploads go into a private mktemp directory below it.
        parent = self._task.args.get("upload_parent") or "/var/tmp"  # noqa: S108
        if not isinstance(parent, str):
            raise AnsibleActionFail("upload_parent: a directory on the server is required")
        parent = posixpath.normpath(parent)
        if not isinstance(name, str) or not name:
            raise AnsibleActionFail("name: the image to send is required")
        local, local_containerd = _local_image(name)
        attrs = local.attrs
        image = image_from(
            local.id,
            attrs.get("Created", ""),
            (attrs.get("RootFS") or {}).get("Layers") or [],
            [(attrs.get("Config") or {}).get(key) for key in _SETTINGS],
        )
        server = self._inspect_server(name, parent)
        loosely = server.containerd_store or local_containerd
        held = server.holds(image, loosely)
        result.update(image=name, image_id=image.id, sent_bytes=0, layers=[], whole=False)
        if server.current is not None and server.current.same_build(image, loosely):
            result.update(changed=False, msg=f"{name} is already there")
        elif held is not None:
            self._shell(
                f"docker tag {shlex.quote(held.id)} {shlex.quote(name)}", "Naming the image"
            )
            result.update(changed=True, msg=f"{name}: the server had this build; named it")
        else:
            present = set() if server.containerd_store else server.chains
            result.update(self._send(local, name, parent, present))
            result.update(changed=True, whole=server.containerd_store)
        result["seconds"] = round(time.monotonic() - started, 3)
        return result

    def _shell(self, command: str, doing: str, sudoable: bool = True) -> str:
        # Files are uploaded as the SSH user, so their directory is made without become.
        try:
            answer = self._low_level_execute_command(command, sudoable=sudoable)
        except AnsibleConnectionFailure as error:
            raise AnsibleActionFail(
                f"{doing} on the server failed: the SSH connection dropped ({error}). No "
                "image was named; run the command again."
            ) from error
        if answer["rc"] != 0:
            # Without a terminal, ssh's own notice comes first; the command's message counts.
            output = f"{answer.get('stdout') or ''}\n{answer.get('stderr') or ''}"
            detail = " ".join(
                line.strip()
                for line in output.splitlines()
                if line.strip() and not line.startswith("Shared connection to")
            )
            raise AnsibleActionFail(f"{doing} on the server failed: {detail or 'no message'}")
        return answer.get("stdout") or ""

    def _inspect_server(self, name: str, parent: str) -> ServerImages:
        output = self._shell(server_query(name, parent), "Listing the images")
        try:
            return parse_server(output)
        except ValueError as error:
            raise AnsibleActionFail(
                "Listing the images on the server gave an answer that could not be read; "
                "is Docker installed there and the SSH user in group docker?"
            ) from error

    def _still_wanted(self, parent_pid: int) -> None:
        """Stop when ansible-playbook is gone (Ctrl-C in ansible-runner ends it, not this
        worker): an interrupted push must not go on to change the server."""
        if os.getppid() != parent_pid:
            raise AnsibleActionFail("Interrupted before the image reached the server.")

    def _send(self, image, name: str, parent: str, present: set[str]) -> dict:
        from docker.errors import DockerException  # present: _local_image imported it

        parent_pid = os.getppid()

        local_dir = tempfile.mkdtemp(prefix="dlgr-image-")  # 0700
        remote_dir = ""
        try:
            saved = Path(local_dir, "image.tar")
            with saved.open("wb") as out:
                for chunk in image.save(named=False):
                    out.write(chunk)
            packed = Path(local_dir, "image.tar.gz")
            with packed.open("wb") as out:
                layers = cut_archive(saved, present, out)
            saved.unlink()
            self._still_wanted(parent_pid)
            remote_dir = self._shell(
                f"umask 077 && mkdir -p {shlex.quote(parent)}"
                f" && mktemp -d {shlex.quote(parent)}/dlgr-image-XXXXXXXX",
                "Making an upload directory",
                sudoable=False,
            ).strip()
            upload = f"{remote_dir}/image.tar.gz"
            self._still_wanted(parent_pid)
            try:
                self._connection.put_file(str(packed), upload)
            except AnsibleError as error:
                raise AnsibleActionFail(
                    f"Uploading {name} failed, nothing was loaded: {error}"
                ) from error
            self._still_wanted(parent_pid)
            # Named only once loaded: a failed load leaves no name pointing at a part. The
            # ID comes from docker load, as the containerd image store has its own.
            self._shell(
                f"loaded=$(docker load --quiet --input {shlex.quote(upload)})"
                ' && id=${loaded##*Loaded image ID: } && test -n "$id"'
                f' && docker tag "$id" {shlex.quote(name)}',
                f"Loading {name}",
            )
            sent = [layer for layer in layers if layer.sent]
            return {
                "sent_bytes": packed.stat().st_size,
                "layers": [asdict(layer) for layer in layers],
                "msg": f"{name}: sent {len(sent)} of {len(layers)} layers,"
                f" {packed.stat().st_size} bytes compressed",
            }
        except (OSError, ValueError, KeyError, tarfile.TarError, DockerException) as error:
            raise AnsibleActionFail(f"Sending {name} failed: {error}") from error
        finally:
            shutil.rmtree(local_dir, ignore_errors=True)
            if remote_dir.startswith(os.path.join(parent, "dlgr-image-")):
                # When the connection is gone, the next run removes old uploads.
                with contextlib.suppress(AnsibleError):
                    self._low_level_execute_command(
                        f"rm -rf {shlex.quote(remote_dir)}", sudoable=False
                    )
