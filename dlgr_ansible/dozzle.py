"""The Dozzle log viewer's password, in one place: made or chosen here, kept here, and
only its bcrypt hash sent to the server.

It reaches a server in two ways: provision (and so every deploy) offers one to a server
that has none, and `set-dozzle-password` sets a chosen one. Either way it is kept in
~/.dallinger/dlgr-ansible/<server>/dozzle-password (0600) before the run, so an
interrupted run cannot leave a password nobody has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bcrypt

from dlgr_ansible import local_secrets, validate

USER = "dallinger"
SECRET_NAME = "dozzle-password"  # noqa: S105 - the file name, not a password
# What the playbooks hand back (set_stats), keyed by inventory host: whether the
# dallinger_server role wrote the offered password, and whether dozzle_password.yml
# changed the server's.
OFFER_TAKEN_KEY = "dlgr_dozzle_password_set"
CHANGED_KEY = "dlgr_dozzle"


@dataclass(frozen=True)
class DozzleLogin:
    """A password for the server, kept on this machine, and whether this run made it."""

    password: str
    password_hash: str
    saved_in: Path
    new: bool

    @classmethod
    def offered(cls, host: str) -> DozzleLogin:
        """The kept password, or a new one kept first: offered to a server without one."""
        path = secret_path(host)
        new = not path.exists()
        password = local_secrets.read_or_create(host, SECRET_NAME)
        return cls(password, _hash(password), path, new)

    @classmethod
    def chosen(cls, host: str, password: str) -> DozzleLogin:
        """A password the researcher chose; checked and hashed, not yet kept."""
        validate.dozzle_password(password)
        return cls(password, _hash(password), secret_path(host), True)

    def forget_if_new(self) -> None:
        if self.new:
            self.saved_in.unlink(missing_ok=True)

    def variables(self) -> dict:
        """dozzle_password.yml's variables. The password is only for the check on this
        machine (is the server's hash already one of it?); it never goes to the server."""
        return {
            "dlgr_dozzle_password": self.password,
            "dlgr_dozzle_password_hash": self.password_hash,
        }


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def secret_path(host: str) -> Path:
    return local_secrets.secret_path(host, SECRET_NAME)


def read_saved(host: str) -> str | None:
    path = secret_path(host)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def save(host: str, value: str | None) -> Path:
    """Write (or with None remove) the locally kept password, 0600, atomically."""
    path = secret_path(host)
    if value is None:
        path.unlink(missing_ok=True)
        return path
    return local_secrets.write(host, SECRET_NAME, value)


def offer_outcome(results: dict, host: str, ok: bool, login: DozzleLogin | None) -> dict | None:
    """The login to show when the server took the one offered; forgets a new one otherwise.
    `host`: the server's name in the inventory, which keys the playbook's results."""
    taken = (results.get(OFFER_TAKEN_KEY) or {}).get(host)
    if login and ok and not taken:
        login.forget_if_new()  # the server keeps a password of its own
    if not (login and taken):
        return None
    return {"user": USER, "password": login.password, "saved_in": str(login.saved_in)}
