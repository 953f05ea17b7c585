"""Servers in containers: systemd + sshd on a Docker engine, as rehearsal servers and test targets.

`dlgr-ansible local-server` and the test bed (tests/testbed/targets.py) both start
their servers here. Everything goes through the ``docker`` CLI with argv lists:
the client negotiates with older engines, builds use the classic builder (BuildKit
would pull a frontend image, which fails without a registry), and key text goes
into ``docker exec`` on stdin, never into a command line.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dlgr_ansible.errors import DlgrError
from dlgr_ansible.resources import share_dir

CONTEXT_LABEL = "org.dlgr-ansible.context"
BANNER_TIMEOUT = 120.0

# What systemd + a nested Docker engine need without --privileged (which fails on
# hosts whose bounding set lacks CAP_SYS_RESOURCE). The host's cgroup tree is
# bind-mounted, so the cgroup namespace must be the host's: with a private one on
# cgroup v1, systemd believes it owns the root cgroup and every such container
# would share /system.slice with every other.
RUN_FLAGS = (
    "--cgroupns=host",
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "--tmpfs=/run",
    "--tmpfs=/run/lock",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
    # A tty makes systemd print its boot progress, so `docker logs` shows it.
    "--tty",
    "--env=SYSTEMD_COLORS=0",
)


class ContainerServerError(DlgrError):
    """Docker could not build, start or stop a server container; the message says why."""


@dataclass(frozen=True)
class Container:
    id: str
    volume: str  # named volume at /var/lib/docker (the server's own engine)


def recipes_dir() -> Path:
    """The rehearsal server's recipes (shipped with the package): the server image's
    context in `server/`, the offline stand-ins of the service images in
    `service-images/`, and the debootstrap base script."""
    return share_dir() / "local_server"


def context_dir() -> Path:
    """The server image's build context. Only what goes into that image is in it, since
    its content hash decides when the server and target images are rebuilt."""
    return recipes_dir() / "server"


def service_images_dir() -> Path:
    """Recipes of the service images' stand-ins built from Debian packages."""
    return recipes_dir() / "service-images"


def docker(
    *args: str, input: str | None = None, check: bool = True, timeout: float | None = 600
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["docker", *args], input=input, capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise ContainerServerError(
            "The docker command is not installed. Install Docker (Debian: apt-get install "
            "docker.io) and start it."
        ) from exc
    if check and proc.returncode != 0:
        raise ContainerServerError(
            f"docker {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc


def engine_running() -> bool:
    return docker("info", "--format={{.ID}}", check=False, timeout=30).returncode == 0


def image_id(image: str) -> str | None:
    proc = docker("image", "inspect", "--format={{.Id}}", image, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_label(image: str, label: str = CONTEXT_LABEL) -> str | None:
    proc = docker(
        "image", "inspect", f'--format={{{{index .Config.Labels "{label}"}}}}', image, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def context_hash(context: Path, base: str) -> str:
    """Hash of a build context's files plus the id of the image it builds on."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(str(image_id(base)).encode())
    return digest.hexdigest()[:16]


def build(context: Path, base: str, *options: str) -> str:
    """`docker build --quiet` FROM `base` with the classic builder; returns the image id."""
    proc = subprocess.run(
        ["docker", "build", "--quiet", f"--build-arg=BASE_IMAGE={base}", *options, str(context)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    if proc.returncode != 0:
        raise ContainerServerError(
            f"building {context.name} failed:\n{proc.stderr.strip()[-3000:]}"
        )
    return proc.stdout.strip().splitlines()[-1]


def build_cached(context: Path, base: str, tag: str, force: bool = False) -> bool:
    """Build `tag` from `context` unless it was built from these files and base; True if built."""
    wanted = context_hash(context, base)
    previous = image_id(tag)
    if not force and previous and image_label(tag) == wanted:
        return False
    build(
        context,
        base,
        *(["--no-cache"] if force else []),
        f"--label={CONTEXT_LABEL}={wanted}",
        f"--tag={tag}",
    )
    if previous and previous != image_id(tag):
        docker("rmi", previous, check=False)  # the outdated image, now untagged
    return True


def build_base(tag: str, suite: str, force: bool = False) -> None:
    """Make a Debian base image with debootstrap (no registry needed) unless `tag` exists."""
    proc = subprocess.run(
        ["bash", str(recipes_dir() / "build-base.sh"), *(["--force"] if force else [])],
        capture_output=True,
        text=True,
        env={**os.environ, "BASE_IMAGE": tag, "SUITE": suite},
    )
    if proc.returncode != 0:
        raise ContainerServerError(f"building {tag} failed:\n{proc.stderr.strip()}")


def start(
    name: str,
    image: str,
    publish: list[str],
    labels: list[str],
    authorized_keys: str,
    users: tuple[str, ...],
    ssh: tuple[str, int],
    volume: str | None = None,
) -> Container:
    """Run a server container, give `users` the `authorized_keys`, wait for sshd's banner.

    `publish` holds `docker run --publish` values; `ssh` is where its sshd answers;
    `volume` names the volume for the server's own Docker data (default: a new
    anonymous one). On any failure the container and its volume are removed again.
    """
    label_flags = [f"--label={label}" for label in labels]
    volume = docker("volume", "create", *label_flags, *([volume] if volume else [])).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        # `docker run` can fail after creating the container (port in use): the
        # cidfile names exactly what it created, never someone else's container.
        cidfile = Path(tmp) / "cid"
        try:
            container_id = docker(
                "run",
                "--detach",
                f"--cidfile={cidfile}",
                f"--name={name}",
                f"--hostname={name}",
                *label_flags,
                *RUN_FLAGS,
                f"--volume={volume}:/var/lib/docker",
                *(f"--publish={spec}" for spec in publish),
                image,
            ).stdout.strip()
        except ContainerServerError:
            created = cidfile.read_text().strip() if cidfile.exists() else ""
            remove(Container(created, volume))
            raise
    container = Container(container_id, volume)
    try:
        for user in users:
            authorize(container.id, user, authorized_keys)
        wait_for_ssh(container.id, *ssh)
    except BaseException:
        remove(container)
        raise
    return container


def authorize(container: str, user: str, authorized_keys: str) -> None:
    install = ["install", f"--owner={user}", f"--group={user}", "--mode=600"]
    path = f"/home/{user}/.ssh/authorized_keys"
    docker("exec", "--interactive", container, *install, "/dev/stdin", path, input=authorized_keys)


def remove(container: Container) -> None:
    """Shut the server down (systemd's clean stop), then remove it and its volume."""
    if container.id:
        docker("stop", "--time=10", container.id, check=False)
        docker("rm", "--force", "--volumes", container.id, check=False)
    if container.volume:
        docker("volume", "rm", "--force", container.volume, check=False)


def host_keys(container: str) -> list[str]:
    """The server's SSH host public keys ("type base64"), read through Docker, not the network."""
    listing = docker(
        "exec", container, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub", check=False
    ).stdout
    return [" ".join(line.split()[:2]) for line in listing.splitlines() if line.strip()]


def port_is_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_banner(address: str, port: int) -> bytes:
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(64)
    except OSError:
        return b""


def wait_for_ssh(container: str, address: str, port: int, timeout: float = BANNER_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _read_banner(address, port).startswith(b"SSH-2.0"):
            return
        if not running(container):
            raise ContainerServerError(
                f"the server container stopped while booting\n{diagnostics(container)}"
            )
        time.sleep(0.2)
    raise ContainerServerError(
        f"no SSH banner on {address}:{port} after {timeout:.0f} s\n{diagnostics(container)}"
    )


def running(container: str) -> bool:
    proc = docker("inspect", "--format={{.State.Running}}", container, check=False)
    return proc.stdout.strip() == "true"


def diagnostics(container: str) -> str:
    state = docker(
        "inspect", "--format={{.State.Status}} (exit {{.State.ExitCode}})", container, check=False
    )
    logs = docker("logs", "--tail=40", container, check=False)
    return (
        f"container state: {state.stdout.strip() or state.stderr.strip()}\n"
        f"docker logs --tail 40 {container}:\n{logs.stdout}{logs.stderr}".replace("\r\n", "\n")
    )
