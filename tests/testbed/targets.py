"""SSH test targets: systemd + sshd "servers" in Docker containers.

Used by the pytest fixtures in tests/conftest.py and usable on its own
(``python -m tests.testbed.targets build|clean|start|stop``; Molecule's shared
create/destroy playbooks in molecule/shared/ call ``start`` and ``stop``).
A target is the product's rehearsal server (dlgr_ansible.container_server, what
`dlgr-ansible local-server` runs) built on an offline debootstrap base, plus a
user without sudo; this module adds labels, ownership and clean-up for tests.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dlgr_ansible import container_server, local_server

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_DOCKER = REPO_ROOT / "scripts" / "ensure-docker.sh"
TARGET_CONTEXT = REPO_ROOT / "tests" / "images" / "target"

SUITE = "trixie"  # Debian 13: the release the product is tested on first
BASE_IMAGE = f"dlgr-test/debian-base:{SUITE}"
TARGET_IMAGE = f"dlgr-test/target:{SUITE}"
# Labels the test images (services, experiment) with their recipe hash.
CONTEXT_LABEL = "dlgr-test.context"


def base_image(suite: str = SUITE) -> str:
    return f"dlgr-test/debian-base:{suite}"


def server_image(suite: str = SUITE) -> str:
    """The product's rehearsal server image, built on the offline base."""
    return f"dlgr-test/server:{suite}"


def target_image(suite: str = SUITE) -> str:
    return f"dlgr-test/target:{suite}"


LABEL = "dlgr-test=1"
# Who started a target: "pid:N" for a pytest session (its leftovers are removed once
# that process is gone), anything else for targets whose owner cleans up itself.
OWNER_LABEL = "dlgr-test.owner"
USERS = ("dallinger", "nosudo")


def label_flags() -> list[str]:
    """`docker run/create` options marking a test-bed object as this process's: other
    sessions' clean-up (remove_leftovers) leaves it alone while this process lives."""
    return [f"--label={LABEL}", f"--label={OWNER_LABEL}=pid:{os.getpid()}"]


# The test bed fails with TestbedError; container_server's errors are the same kind.
TestbedError = container_server.ContainerServerError


@dataclass(frozen=True)
class Target:
    name: str  # container name and hostname
    container: str  # container id
    address: str  # loopback address the ports are published on
    ssh_port: int
    volume: str  # named volume at /var/lib/docker (nested engine)


_docker = container_server.docker
image_id = container_server.image_id
docker_build = container_server.build
port_is_open = container_server.port_is_open


def ensure_docker() -> None:
    """Start the Docker engine if it is not answering; raise TestbedError if that fails."""
    proc = subprocess.run(["bash", str(ENSURE_DOCKER)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise TestbedError(f"Docker engine unavailable:\n{proc.stderr.strip()}")


# Image builds of concurrent runs (pytest workers, Molecule's create) wait for each
# other: two builds of one tag would both do the work, and one could remove the
# image the other just tagged. Reentrant within a process.
_BUILD_LOCK_FILE = Path(tempfile.gettempdir()) / "dlgr-test-images.lock"
_build_lock = threading.RLock()
_build_depth = 0


@contextlib.contextmanager
def image_build_lock() -> Iterator[None]:
    """Hold the machine-wide lock on the test images (blocks while another run builds)."""
    global _build_depth
    with _build_lock:
        if _build_depth:
            _build_depth += 1
            try:
                yield
            finally:
                _build_depth -= 1
            return
        with open(_BUILD_LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _build_depth = 1
            try:
                yield
            finally:
                _build_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_base_image(suite: str = SUITE) -> str:
    """The offline (debootstrap) base image of `suite`, built unless it exists."""
    tag = base_image(suite)
    container_server.build_base(tag, suite)
    return tag


def build_images(force: bool = False, suite: str = SUITE) -> None:
    """Build base, server and target images of a Debian suite unless they are up to date.

    The server image is the product's (`dlgr-ansible local-server`) from the same
    recipe; the target adds only the test user `nosudo`.
    """
    with image_build_lock():
        if force:
            container_server.build_base(base_image(suite), suite, force=True)
        base = ensure_base_image(suite)
        server = server_image(suite)
        container_server.build_cached(container_server.context_dir(), base, server, force)
        container_server.build_cached(TARGET_CONTEXT, server, target_image(suite), force)


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at `address` right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


# Loopback addresses 127.0.0.N by who may use them, so that runs at the same time never
# pick the same one: a pytest session without workers N = 11-30, pytest-xdist worker gwK
# N = 100+20K to 119+20K (K < 7), Molecule's scenarios 31-99 (molecule/README.md).
# The first address of a range is the session's shared target.
SESSION_ADDRESSES = (11, 30)
WORKER_ADDRESSES = (100, 20, 7)  # first, per worker, workers


def session_addresses() -> tuple[int, int]:
    """(first, last) host number of 127.0.0.N this pytest process may use."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return SESSION_ADDRESSES
    first, size, workers = WORKER_ADDRESSES
    index = int(worker.removeprefix("gw"))
    if index >= workers:
        raise TestbedError(f"at most {workers} pytest workers (-n) fit the loopback plan")
    return first + size * index, first + size * index + size - 1


def shared_address() -> str:
    """The address of this pytest process's shared target: the first of its range."""
    return f"127.0.0.{session_addresses()[0]}"


def free_loopback_address(first: int | None = None, last: int | None = None) -> str:
    """First 127.0.0.N of this process's range (after the shared target's) with nothing
    listening on 22, 80 or 443; `first` and `last` narrow it."""
    start, end = session_addresses()
    first = max(first or 0, start + 1)
    last = min(last or end, end)
    for n in range(first, last + 1):
        address = f"127.0.0.{n}"
        if not any(port_is_open(address, port, 0.2) for port in (22, 80, 443)):
            return address
    raise TestbedError(f"no free loopback address in 127.0.0.{first}-{last}")


def start_target(
    name: str,
    address: str,
    authorized_keys: str,
    ssh_port: int = 22,
    publish_web: bool = True,
    owner: str | None = None,
    suite: str = SUITE,
    web_address: str | None = None,
    web_ports: tuple[int, int] = (80, 443),
) -> Target:
    """Run a target container, install `authorized_keys` for both users, wait for sshd.

    `web_address` and `web_ports` publish the target's 80/443 elsewhere than SSH: on
    127.0.0.1, names like `<app>.localhost` reach the target's Caddy.
    """
    owned_by = f"{OWNER_LABEL}={owner or f'pid:{os.getpid()}'}"
    ports = [f"{address}:{ssh_port}:22"]
    if publish_web:
        web = web_address or address
        ports += [f"{web}:{web_ports[0]}:80", f"{web}:{web_ports[1]}:443"]
    container = container_server.start(
        name,
        target_image(suite),
        publish=ports,
        labels=[LABEL, owned_by],
        authorized_keys=authorized_keys,
        users=USERS,
        ssh=(address, ssh_port),
    )
    return Target(
        name=name,
        container=container.id,
        address=address,
        ssh_port=ssh_port,
        volume=container.volume,
    )


def stop_target(target: Target) -> None:
    """Shut the target down and remove its container and volume."""
    container_server.remove(container_server.Container(target.container, target.volume))


def find_target(name: str) -> Target | None:
    """The test-bed target in the container called `name`, or None if there is no such container.

    Raises TestbedError if the container exists but is not a test-bed target
    (no dlgr-test=1 label), so nothing else on the machine is ever touched.
    """
    proc = _docker("container", "inspect", "--format={{json .}}", name, check=False)
    if proc.returncode != 0:
        if "no such" in proc.stderr.lower():
            return None
        raise TestbedError(f"docker container inspect {name} failed: {proc.stderr.strip()}")
    info = json.loads(proc.stdout)
    key, _, value = LABEL.partition("=")
    if (info["Config"].get("Labels") or {}).get(key) != value:
        raise TestbedError(f"container {name} is not a test-bed target (no label {LABEL})")
    volume = next(
        (
            mount["Name"]
            for mount in info.get("Mounts") or []
            if mount.get("Type") == "volume" and mount.get("Destination") == "/var/lib/docker"
        ),
        "",
    )
    ssh = ((info["HostConfig"].get("PortBindings") or {}).get("22/tcp") or [{}])[0]
    return Target(
        name=name,
        container=info["Id"],
        address=ssh.get("HostIp", ""),
        ssh_port=int(ssh.get("HostPort") or 0),
        volume=volume,
    )


def _abandoned(owner: str) -> bool:
    """True for test-bed objects nobody will clean up: no owner, or a pytest session that is gone."""
    if not owner:
        return True
    kind, _, pid = owner.partition(":")
    if kind != "pid" or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_leftovers(everything: bool = False) -> None:
    """Remove test-bed containers and volumes left by finished runs (all of them with `everything`).

    Targets of a session still running, here or in another shell, are left alone. Under
    the test images' lock: two pytest workers starting together list the same leftovers,
    and Docker refuses the second removal of a container ("already in progress").
    """
    with image_build_lock():
        containers = _removable(everything, "ps", "--all", "{{.ID}}")
        if containers:
            _docker("rm", "--force", "--volumes", *containers)
        volumes = _removable(everything, "volume", "ls", "{{.Name}}")
        if volumes:
            _docker("volume", "rm", "--force", *volumes)


def _removable(everything: bool, *listing: str) -> list[str]:
    """Names from `docker <listing>` of labelled objects that nobody will clean up."""
    *command, name_format = listing
    rows = _docker(
        *command,
        f"--filter=label={LABEL}",
        f'--format={name_format} {{{{.Label "{OWNER_LABEL}"}}}}',
    ).stdout.splitlines()
    return [
        name
        for name, _, owner in (row.partition(" ") for row in rows)
        if everything or _abandoned(owner)
    ]


def exec_in(
    target: Target,
    *argv: str,
    input: str | None = None,
    user: str | None = None,
    check: bool = False,
    timeout: float | None = 600,
) -> subprocess.CompletedProcess[str]:
    """Run argv inside the target (no shell); returns the completed process."""
    opts = ["--interactive"] if input is not None else []
    if user is not None:
        opts.append(f"--user={user}")
    return _docker(
        "exec", *opts, target.container, *argv, input=input, check=check, timeout=timeout
    )


def caddy_root(target: Target) -> str:
    """The root certificate (PEM) of the target's Caddy CA (`tls internal`)."""
    return exec_in(target, "cat", local_server.CADDY_ROOT, check=True).stdout


def caddy_tls(target: Target) -> ssl.SSLContext:
    """Verified TLS trusting the target's Caddy CA (`tls internal`), as a browser that imported it."""
    return ssl.create_default_context(cadata=caddy_root(target))


def ssh_argv(target: Target, user: str, key: Path) -> list[str]:
    """ssh command line (without the remote command) for logging into a target as `user`."""
    return [
        "ssh",
        f"-oIdentityFile={key}",
        f"-oPort={target.ssh_port}",
        "-oIdentitiesOnly=yes",
        "-oBatchMode=yes",
        "-oStrictHostKeyChecking=no",
        "-oUserKnownHostsFile=/dev/null",
        "-oLogLevel=ERROR",
        "-oConnectTimeout=10",
        f"{user}@{target.address}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.targets")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="start Docker if needed and build the test images")
    build.add_argument("--force", action="store_true", help="rebuild even if the images exist")
    build.add_argument(
        "--suite", default=SUITE, help=f"Debian release of the images (default: {SUITE})"
    )
    sub.add_parser("clean", help="remove every container and volume labelled dlgr-test=1")
    start = sub.add_parser(
        "start",
        help="build the images if needed, start one target, print it as one JSON line",
        description="Start a target container NAME with SSH (and 80/443) published on "
        "ADDRESS and PUBKEY_FILE as authorized_keys of both users; print the Target "
        "(name, container, address, ssh_port, volume) as one JSON line on stdout.",
    )
    start.add_argument("name", help="container name and hostname")
    start.add_argument("address", help="loopback address to publish on, e.g. 127.0.0.31")
    start.add_argument("pubkey_file", type=Path, help="OpenSSH public key(s) to authorize")
    stop = sub.add_parser(
        "stop",
        help="stop and remove the target NAME and its volume (exit 0 if there is none)",
        description="Stop and remove the target container NAME and its volume. Prints "
        "the removed Target as one JSON line, nothing if there was no container NAME; "
        "refuses containers that are not test-bed targets (no dlgr-test=1 label).",
    )
    stop.add_argument("name", help="container name given to 'start'")
    args = parser.parse_args(argv)
    try:
        ensure_docker()
        if args.command == "build":
            build_images(force=args.force, suite=args.suite)
        elif args.command == "clean":
            remove_leftovers(everything=True)
        elif args.command == "start":
            try:
                authorized_keys = args.pubkey_file.read_text()
            except OSError as exc:
                raise TestbedError(f"cannot read {args.pubkey_file}: {exc.strerror}") from None
            build_images()
            # Whoever asked (Molecule's create/destroy) stops it again: not a pytest leftover.
            target = start_target(args.name, args.address, authorized_keys, owner="cli")
            print(json.dumps(dataclasses.asdict(target)), flush=True)
        else:
            found = find_target(args.name)
            if found is not None:
                stop_target(found)
                print(json.dumps(dataclasses.asdict(found)), flush=True)
    except TestbedError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
