"""The saved servers, kept exactly where and how `dallinger docker-ssh` keeps them.

One JSON file per server, named by its host, holding {"host": ..., "user": ...}, plus
our own keys "port" and "https_port" when they differ from 22 and 443, "address"
when SSH must connect elsewhere than the name, and the server's settings
(dlgr_ansible.server_settings) by their config keys (Dallinger ignores keys it does not
know).
Dallinger 12.4 writes ~/.dallinger/docker-ssh/hosts and still reads the older
platformdirs location; we read both and write only the new one. Unlike Dallinger we
do not copy old entries over on every read: reading never writes.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from dlgr_ansible import server_settings, validate
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.files import write_atomically

DEFAULT_SSH_PORT = 22
DEFAULT_HTTPS_PORT = 443


class HostsProblem(DlgrError):
    """A server is unknown, ambiguous, or its stored file is unreadable."""


class ServerChoiceNeeded(HostsProblem):
    """Several servers are saved and none was named."""

    def __init__(self, choices: list[str]):
        self.choices = choices
        super().__init__(
            "Several servers are saved; choose one with --server. "
            f"Saved servers: {', '.join(choices)}"
        )


@dataclass(frozen=True)
class Server:
    host: str
    user: str | None = None
    port: int = DEFAULT_SSH_PORT
    # Where the server's Caddy answers HTTPS as seen from here (a rehearsal server
    # publishes it elsewhere than 443).
    https_port: int = DEFAULT_HTTPS_PORT
    # Where SSH connects when that is not `host`, which then is only a name. The
    # rehearsal server is "local" at "localhost": Ansible takes an inventory host
    # called localhost for the controller itself.
    address: str | None = None
    # dlgr_ansible.server_settings: config key -> value, each one checked.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def ssh_host(self) -> str:
        return self.address or self.host

    def to_json(self) -> dict:
        data: dict = {"host": self.host, "user": self.user}
        if self.port != DEFAULT_SSH_PORT:
            data["port"] = self.port
        if self.https_port != DEFAULT_HTTPS_PORT:
            data["https_port"] = self.https_port
        if self.address:
            data["address"] = self.address
        return data | self.settings

    @classmethod
    def new(
        cls, host: str, user: str | None, port: int | str, settings: dict[str, str] | None = None
    ) -> "Server":
        """A server about to be added, every value checked."""
        return cls(
            host=validate.host(host),
            user=validate.user(user) if user is not None else None,
            port=validate.port(port),
            settings=server_settings.checked(settings or {}, "server settings"),
        )

    @classmethod
    def from_json(cls, data: dict) -> "Server":
        return cls(
            host=str(data["host"]),
            user=data.get("user") or None,
            port=int(data.get("port") or DEFAULT_SSH_PORT),
            https_port=int(data.get("https_port") or DEFAULT_HTTPS_PORT),
            address=data.get("address") or None,
            settings={key: data[key] for key in server_settings.SETTINGS_ORDER if key in data},
        )


class HostsStore:
    def __init__(self, new_dir: Path, old_dir: Path):
        self.new_dir = new_dir
        self.old_dir = old_dir

    @classmethod
    def default(cls) -> "HostsStore":
        """The locations Dallinger uses, worked out now (never at import time)."""
        return cls(
            new_dir=Path.home() / ".dallinger" / "docker-ssh" / "hosts",
            old_dir=Path(platformdirs.user_data_dir("dallinger", "dallinger")) / "hosts",
        )

    def servers(self) -> dict[str, Server]:
        """Every saved server by name; an entry in the new location wins."""
        found: dict[str, Server] = {}
        for directory in (self.old_dir, self.new_dir):
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    found[path.name] = self._read(path)
        return dict(sorted(found.items()))

    def add(self, server: Server) -> Path:
        """Save atomically: a crash leaves the old file or the new one, never half of one."""
        self.new_dir.mkdir(parents=True, exist_ok=True)
        # Written beside the directory, not in it: Dallinger reads every file in it,
        # and a crash must not leave a half-written one there.
        target = self.new_dir / server.host
        return write_atomically(
            target, json.dumps(server.to_json()), 0o644, scratch_dir=self.new_dir.parent
        )

    def remove(self, name: str) -> bool:
        """Forget a server in both locations; True when anything was removed."""
        removed = False
        for directory in (self.old_dir, self.new_dir):
            path = directory / name
            if path.is_file():
                path.unlink()
                removed = True
        return removed

    def resolve(self, name: str | None) -> Server:
        """The server named by --server, or the only one saved."""
        servers = self.servers()
        if name:
            if name not in servers:
                choices = ", ".join(servers) or "none"
                raise HostsProblem(
                    f"Unknown server {name!r}. Saved servers: {choices}. "
                    "Add it with `dlgr-ansible servers add --host HOST --user USER`."
                )
            return servers[name]
        if not servers:
            raise HostsProblem(
                "No server saved yet. Add one with `dlgr-ansible servers add --host HOST --user USER`."
            )
        if len(servers) > 1:
            raise ServerChoiceNeeded(list(servers))
        return next(iter(servers.values()))

    def selection(self, name: str | None) -> dict[str, Server]:
        """All saved servers, or just the one named."""
        if name:
            server = self.resolve(name)
            return {server.host: server}
        return self.servers()

    @staticmethod
    def _read(path: Path) -> Server:
        try:
            server = Server.from_json(json.loads(path.read_text(encoding="utf-8")))
            validate.host(server.host)
            if server.user is not None:
                validate.user(server.user)
            validate.port(server.port)
            validate.port(server.https_port)
            validate.host(server.ssh_host)
            server_settings.checked(server.settings, "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, DlgrError) as exc:
            raise HostsProblem(
                f"The saved server file {path} is damaged ({exc}). "
                f"Remove it and add the server again."
            ) from exc
        return server
