"""SSH test targets: systemd + sshd "servers" in Docker containers.

Used by the pytest fixtures in tests/conftest.py and usable on its own
(``python -m tests.testbed.targets build|clean|start|stop``; Molecule's shared
create/destroy playbooks in molecule/shared/ call ``start`` and ``stop``).
Everything goes through the ``docker`` CLI with argv lists: the engine here is
older than the client, the CLI negotiates that for us, and piping stdin into
``docker exec`` is trivial.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import secrets
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_DOCKER = REPO_ROOT / "tests" / "testbed" / "ensure-docker.sh"
BASE_BUILD = REPO_ROOT / "tests" / "images" / "base" / "build.sh"
TARGET_CONTEXT = REPO_ROOT / "tests" / "images" / "target"

SUITE = "trixie"  # Debian 13: the release the product is tested on first
BASE_IMAGE = f"dlgr-test/debian-base:{SUITE}"
TARGET_IMAGE = f"dlgr-test/target:{SUITE}"


def base_image(suite: str = SUITE) -> str:
    return f"dlgr-test/debian-base:{suite}"


def target_image(suite: str = SUITE) -> str:
    return f"dlgr-test/target:{suite}"


LABEL = "dlgr-test=1"
CONTEXT_LABEL = "dlgr-test.context"
# Who started a target: "pid:N" for a pytest session (its leftovers are removed once
# that process is gone), anything else for targets whose owner cleans up itself.
OWNER_LABEL = "dlgr-test.owner"
USERS = ("dallinger", "nosudo")
BANNER_TIMEOUT = 120.0

# What systemd + a nested Docker engine need without --privileged (which
# fails here: the VM's bounding set lacks CAP_SYS_RESOURCE). The host's cgroup
# v1 tree is bind-mounted, so the cgroup namespace must be the host's: with a
# private one, systemd believes it owns the root cgroup and every target
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


class TestbedError(RuntimeError):
    """The test bed could not do what was asked; the message says why."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class Target:
    name: str  # container name and hostname
    container: str  # container id
    address: str  # loopback address the ports are published on
    ssh_port: int
    volume: str  # named volume at /var/lib/docker (nested engine)


def _docker(
    *args: str, input: str | None = None, check: bool = True, timeout: float | None = 600
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["docker", *args], input=input, capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise TestbedError(
            "docker CLI not found; run 'make deps' (apt-get install docker.io)"
        ) from exc
    if check and proc.returncode != 0:
        raise TestbedError(
            f"docker {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc


def ensure_docker() -> None:
    """Start the Docker engine if it is not answering; raise TestbedError if that fails."""
    proc = subprocess.run(["bash", str(ENSURE_DOCKER)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise TestbedError(f"Docker engine unavailable:\n{proc.stderr.strip()}")


def image_id(image: str) -> str | None:
    proc = _docker("image", "inspect", "--format={{.Id}}", image, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _target_context_hash(base: str = BASE_IMAGE) -> str:
    """Hash of the target's build context plus the base image id it builds on."""
    digest = hashlib.sha256()
    for path in sorted(p for p in TARGET_CONTEXT.rglob("*") if p.is_file()):
        digest.update(path.relative_to(TARGET_CONTEXT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(str(image_id(base)).encode())
    return digest.hexdigest()[:16]


def build_images(force: bool = False, suite: str = SUITE) -> None:
    """Build the base and target images of a Debian suite unless they exist and are up to date."""
    base_tag, target_tag = base_image(suite), target_image(suite)
    base = subprocess.run(
        ["bash", str(BASE_BUILD), *(["--force"] if force else [])],
        capture_output=True,
        text=True,
        env={**os.environ, "BASE_IMAGE": base_tag, "SUITE": suite},
    )
    if base.returncode != 0:
        raise TestbedError(f"building {base_tag} failed:\n{base.stderr.strip()}")

    context = _target_context_hash(base_tag)
    previous = image_id(target_tag)
    if not force and previous:
        label = f'--format={{{{index .Config.Labels "{CONTEXT_LABEL}"}}}}'
        if _docker("image", "inspect", label, target_tag).stdout.strip() == context:
            return
    docker_build(
        TARGET_CONTEXT,
        base_tag,
        *(["--no-cache"] if force else []),
        f"--label={CONTEXT_LABEL}={context}",
        f"--tag={target_tag}",
    )
    if previous and previous != image_id(target_tag):
        _docker("rmi", previous, check=False)  # the outdated image, now untagged


def docker_build(context: Path, base: str, *options: str) -> str:
    """`docker build --quiet` FROM `base` with the classic builder; returns the image id."""
    proc = subprocess.run(
        ["docker", "build", "--quiet", f"--build-arg=BASE_IMAGE={base}", *options, str(context)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},  # BuildKit would try to pull a frontend
    )
    if proc.returncode != 0:
        raise TestbedError(f"building {context.name} failed:\n{proc.stderr.strip()[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def port_is_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at `address` right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def free_loopback_address(first: int = 12, last: int = 254) -> str:
    """First 127.0.0.N (N >= first) with nothing listening on 22, 80 or 443."""
    for n in range(first, last + 1):
        address = f"127.0.0.{n}"
        if not any(port_is_open(address, port, 0.2) for port in (22, 80, 443)):
            return address
    raise TestbedError(f"no free loopback address in 127.0.0.{first}-{last}")


def _read_banner(address: str, port: int) -> bytes:
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(64)
    except OSError:
        return b""


def _diagnostics(container: str) -> str:
    state = _docker(
        "inspect", "--format={{.State.Status}} (exit {{.State.ExitCode}})", container, check=False
    )
    logs = _docker("logs", "--tail=40", container, check=False)
    return (
        f"container state: {state.stdout.strip() or state.stderr.strip()}\n"
        f"docker logs --tail 40 {container}:\n{logs.stdout}{logs.stderr}".replace("\r\n", "\n")
    )


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
    volume = f"{name}-docker-{secrets.token_hex(4)}"
    owned_by = f"--label={OWNER_LABEL}={owner or f'pid:{os.getpid()}'}"
    _docker("volume", "create", f"--label={LABEL}", owned_by, volume)
    ports = [f"--publish={address}:{ssh_port}:22"]
    if publish_web:
        web = web_address or address
        ports += [f"--publish={web}:{web_ports[0]}:80", f"--publish={web}:{web_ports[1]}:443"]
    with tempfile.TemporaryDirectory() as tmp:
        # `docker run` can fail after creating the container (port in use): the
        # cidfile names exactly what it created, never someone else's container.
        cidfile = Path(tmp) / "cid"
        try:
            container = _docker(
                "run",
                "--detach",
                f"--cidfile={cidfile}",
                f"--name={name}",
                f"--hostname={name}",
                f"--label={LABEL}",
                owned_by,
                *RUN_FLAGS,
                f"--volume={volume}:/var/lib/docker",
                *ports,
                target_image(suite),
            ).stdout.strip()
        except TestbedError:
            created = cidfile.read_text().strip() if cidfile.exists() else ""
            if created:
                _docker("rm", "--force", "--volumes", created, check=False)
            _docker("volume", "rm", "--force", volume, check=False)
            raise
    target = Target(
        name=name, container=container, address=address, ssh_port=ssh_port, volume=volume
    )
    try:
        for user in USERS:
            # Key text goes in on stdin, never into a command line.
            install = ["install", f"--owner={user}", f"--group={user}", "--mode=600"]
            path = f"/home/{user}/.ssh/authorized_keys"
            _docker(
                "exec",
                "--interactive",
                container,
                *install,
                "/dev/stdin",
                path,
                input=authorized_keys,
            )
        _wait_for_ssh(target)
    except BaseException:
        stop_target(target)
        raise
    return target


def _wait_for_ssh(target: Target, timeout: float = BANNER_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _read_banner(target.address, target.ssh_port).startswith(b"SSH-2.0"):
            return
        running = _docker("inspect", "--format={{.State.Running}}", target.container, check=False)
        if running.stdout.strip() != "true":
            raise TestbedError(
                f"target {target.name} stopped while booting\n{_diagnostics(target.container)}"
            )
        time.sleep(0.2)
    raise TestbedError(
        f"no SSH banner from {target.name} on {target.address}:{target.ssh_port} "
        f"after {timeout:.0f} s\n{_diagnostics(target.container)}"
    )


def stop_target(target: Target) -> None:
    """Shut the target down and remove its container and volume."""
    _docker("stop", "--time=10", target.container, check=False)
    _docker("rm", "--force", "--volumes", target.container, check=False)
    _docker("volume", "rm", "--force", target.volume, check=False)


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

    Targets of a session still running, here or in another shell, are left alone.
    """
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
            build_images(force=args.force)
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
