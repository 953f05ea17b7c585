"""Passwords this machine hands to a server, kept locally so none is ever lost.

~/.dallinger/dlgr-ansible/<host>/<name>, the directory 0700 and the file 0600, written
atomically. A password is stored before the run that sets it, so an interrupted run
cannot leave the server with a password nobody has seen.
"""

import secrets
from dataclasses import dataclass
from pathlib import Path

from dlgr_ansible import validate
from dlgr_ansible.files import write_atomically


def secret_path(host: str, name: str) -> Path:
    return Path.home() / ".dallinger" / "dlgr-ansible" / validate.host(host) / name


def read_or_create(host: str, name: str) -> str:
    """The stored password, or a new random one stored first."""
    path = secret_path(host, name)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(12)
    write(host, name, value)
    return value


def write(host: str, name: str, value: str) -> Path:
    """Store `value` under `name`, replacing what was there."""
    return _write(secret_path(host, name), value)


def _write(path: Path, value: str) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, value + "\n", 0o600)
    return path


@dataclass(frozen=True)
class LocalPassword:
    """A password kept for a server, and whether this run made it."""

    value: str
    saved_in: Path
    new: bool

    @staticmethod
    def saved(host: str, name: str) -> bool:
        return secret_path(host, name).exists()

    @classmethod
    def for_server(cls, host: str, name: str) -> "LocalPassword":
        """The stored password, or a new one that `store` keeps once every input of the
        run is checked (a refused command leaves nothing behind)."""
        path = secret_path(host, name)
        if path.is_file():
            return cls(path.read_text(encoding="utf-8").strip(), path, False)
        return cls(secrets.token_urlsafe(12), path, True)

    def store(self) -> None:
        """Keeps a new password, before the run that sets it."""
        if self.new and not self.saved_in.is_file():
            _write(self.saved_in, self.value)
