"""`dlgr-ansible local-server`: a rehearsal server on this machine's own Docker engine.

A container running systemd and sshd like a fresh Debian server, with its SSH and
web ports published on 127.0.0.1 only. It is saved in the hosts store as
``local`` (at localhost, with its SSH and HTTPS ports), so every command can be tried on it
before a real server; ``<app>.localhost`` names reach it from browsers and curl.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlgr_ansible import container_server, sshkeys, validate
from dlgr_ansible.config import USER_CONFIG_NAME, Config
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import HostsStore, Server

HOST = "local"  # its name in the hosts store (never "localhost": see hosts.Server)
SSH_HOST = "localhost"
ADDRESS = "127.0.0.1"
USER = "dallinger"
SUITE = "trixie"
IMAGE = f"dlgr-ansible/local-server:{SUITE}"
DEFAULT_BASE = f"debian:{SUITE}"
OFFLINE_BASE = f"dlgr-ansible/debian-base:{SUITE}"
LABEL = "org.dlgr-ansible.local-server=1"
CONFIG_SECTION = "dlgr-ansible"
# Where Caddy's own CA lives on the server (the shared stack's named volume).
CADDY_ROOT = (
    "/var/lib/docker/volumes/dallinger_caddy_data/_data/caddy/pki/authorities/local/root.crt"
)


def container_name() -> str:
    """The container's name; DLGR_LOCAL_CONTAINER lets tests run their own beside yours."""
    return os.environ.get("DLGR_LOCAL_CONTAINER") or "dlgr-ansible-local"


class LocalServerError(DlgrError):
    """The rehearsal server cannot be started, found or removed."""


@dataclass(frozen=True)
class Ports:
    ssh: int = 2222
    http: int = 8080
    https: int = 8443


@dataclass(frozen=True)
class Status:
    state: str  # "running", "stopped" or "absent"
    # Both set unless the state is "absent".
    ports: Ports | None = None
    container: container_server.Container | None = None

    def to_json(self) -> dict:
        data: dict = {"state": self.state, "server": HOST if self.ports else None}
        if self.ports:
            data["ports"] = vars(self.ports)
        return data


def local_dir() -> Path:
    return Path.home() / ".dallinger" / "dlgr-ansible" / "local"


def status() -> Status:
    """What `docker` knows about the rehearsal server; refuses a foreign container of that name."""
    _require_engine()
    proc = container_server.docker("container", "inspect", container_name(), check=False)
    if proc.returncode != 0:
        if "no such" in proc.stderr.lower():
            return Status("absent")
        raise LocalServerError(
            f"docker container inspect {container_name()} failed: {proc.stderr.strip()}"
        )
    info = json.loads(proc.stdout)[0]
    key, _, value = LABEL.partition("=")
    if (info["Config"].get("Labels") or {}).get(key) != value:
        raise LocalServerError(
            f"A container called {container_name()} exists but was not made by dlgr-ansible; "
            "rename or remove it first."
        )
    bindings = info["HostConfig"].get("PortBindings") or {}

    def published(port: str) -> int:
        return int(((bindings.get(f"{port}/tcp") or [{}])[0]).get("HostPort") or 0)

    volume = next(
        (m["Name"] for m in info.get("Mounts") or [] if m.get("Destination") == "/var/lib/docker"),
        "",
    )
    return Status(
        "running" if info["State"].get("Running") else "stopped",
        Ports(ssh=published("22"), http=published("80"), https=published("443")),
        container_server.Container(info["Id"], volume),
    )


def up(
    config: Config,
    store: HostsStore,
    known_hosts: Path,
    ports: Ports = Ports(),
    base_image: str = DEFAULT_BASE,
    offline: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> Server:
    """Build, start and save the rehearsal server; a second call only checks it."""
    for port in (ports.ssh, ports.http, ports.https):
        validate.port(port)
    key = ensure_key(config, say)
    current = status()
    if current.state == "absent":
        if offline:
            base_image = OFFLINE_BASE
            say(f"Building {base_image} with debootstrap (about a minute)")
            container_server.build_base(base_image, SUITE)
        else:
            _pull_if_missing(validate.image(base_image))
        if container_server.build_cached(container_server.context_dir(), base_image, IMAGE):
            say(f"Built {IMAGE} from {base_image}")
        say(f"Starting {container_name()} (systemd + sshd)")
        container = container_server.start(
            container_name(),
            IMAGE,
            publish=[
                f"{ADDRESS}:{ports.ssh}:22",
                f"{ADDRESS}:{ports.http}:80",
                f"{ADDRESS}:{ports.https}:443",
            ],
            labels=[LABEL],
            authorized_keys=sshkeys.public_key_line(key) + "\n",
            users=(USER,),
            ssh=(ADDRESS, ports.ssh),
            volume=f"{container_name()}-docker",
        )
    else:
        ports, container = current.ports, current.container
        if current.state == "stopped":
            say(f"Starting the stopped {container_name()}")
            container_server.docker("start", container.id)
        # The configured key may have changed since: authorize the current one.
        container_server.authorize(container.id, USER, sshkeys.public_key_line(key) + "\n")
        container_server.wait_for_ssh(container.id, ADDRESS, ports.ssh)
    _trust_host_keys(known_hosts, ports.ssh, container_server.host_keys(container.id))
    before = store.servers().get(HOST)
    server = Server(
        host=HOST,
        user=USER,
        port=ports.ssh,
        https_port=ports.https,
        address=SSH_HOST,
        settings=before.settings if before else {},  # `servers set` ones
    )
    store.add(server)
    return server


def down(store: HostsStore, known_hosts: Path) -> bool:
    """Remove the container, its Docker data, the saved server and its host keys."""
    current = status()
    if current.state == "absent":
        return False
    container_server.remove(current.container)
    saved = store.servers().get(HOST)
    if saved is not None and saved.port == current.ports.ssh:
        store.remove(HOST)
    _forget_host_keys(known_hosts, current.ports.ssh)
    return True


def caddy_root() -> bytes:
    """Caddy's local CA certificate from the running rehearsal server (after provisioning)."""
    proc = subprocess.run(
        ["docker", "exec", container_name(), "cat", CADDY_ROOT], capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise LocalServerError(
            "Caddy's certificate authority is not there yet: deploy an app first."
        )
    return proc.stdout


def ensure_key(config: Config, say: Callable[[str], None]) -> Path:
    """The configured `server_pem`, or a new key made for the rehearsal server and configured.

    Without server_pem no command can log in anywhere, so a new key is written to
    ~/.dallinger/dlgr-ansible/local/id_ed25519 and a section naming it is appended to
    ~/.dallingerconfig (appended, so nothing the user wrote there changes).
    """
    if config.get("server_pem"):
        return sshkeys.configured_key(config)
    key = local_dir() / "id_ed25519"
    if not key.exists():
        sshkeys.create_key(key)
        say(f"Created the SSH key {key}")
    user_config = Path.home() / USER_CONFIG_NAME
    if user_config.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(user_config, encoding="utf-8")
        if parser.has_section(CONFIG_SECTION):
            raise LocalServerError(
                f"{user_config} has a [{CONFIG_SECTION}] section without server_pem; add "
                f"`server_pem = {key}` to it."
            )
    with user_config.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n# Added by `dlgr-ansible local-server up`: the SSH key for your servers.\n"
            f"[{CONFIG_SECTION}]\nserver_pem = {key}\n"
        )
    say(f"Set server_pem = {key} in {user_config}")
    return key


def _require_engine() -> None:
    if not container_server.engine_running():
        raise LocalServerError(
            "Docker is not running on this machine. Start it (e.g. `sudo systemctl start "
            "docker`) and try again."
        )


def _pull_if_missing(image: str) -> None:
    if container_server.image_id(image):
        return
    proc = container_server.docker("pull", image, check=False, timeout=900)
    if proc.returncode != 0:
        raise LocalServerError(
            f"Cannot get {image} ({(proc.stderr.strip().splitlines() or ['?'])[-1]}). "
            "Without Docker Hub, "
            "use --offline (builds the base with debootstrap; needs root and debootstrap) "
            "or --base-image with a Debian trixie image you have."
        )


def _known_as(ssh_port: int) -> str:
    return f"[{SSH_HOST}]:{ssh_port}"  # how known_hosts names a non-22 port


def _trust_host_keys(known_hosts: Path, ssh_port: int, keys: list[str]) -> None:
    """Record the host keys read through Docker, replacing older ones for that port.

    A new container has new host keys; they come from the container itself, so
    host-key checking stays on for every later connection.
    """
    if not keys:
        raise LocalServerError(
            f"{container_name()} has no SSH host keys; run `local-server down` and up."
        )
    _forget_host_keys(known_hosts, ssh_port)
    known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with known_hosts.open("a", encoding="utf-8") as handle:
        for key in keys:
            handle.write(f"{_known_as(ssh_port)} {key}\n")


def _forget_host_keys(known_hosts: Path, ssh_port: int) -> None:
    if known_hosts.is_file():
        # ssh-keygen also finds hashed entries (Debian's ssh hashes known_hosts).
        subprocess.run(
            ["ssh-keygen", "-R", _known_as(ssh_port), "-f", str(known_hosts)],
            capture_output=True,
            check=False,
        )
