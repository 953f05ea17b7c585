"""Map the CLI's options and the config keys onto the provisioning roles' variables."""

from dataclasses import dataclass
from pathlib import Path

import bcrypt

from dlgr_ansible import validate
from dlgr_ansible.config import Config
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.images import locally_available
from dlgr_ansible.local_secrets import read_or_create, secret_path

# Config key -> role variable, for the images of the shared stack.
IMAGE_KEYS = {
    "docker_postgresql_image": "dallinger_server_postgresql_image",
    "docker_caddy_image": "dallinger_server_caddy_image",
    "docker_dozzle_image": "dallinger_server_dozzle_image",
}


@dataclass(frozen=True)
class DozzleLogin:
    """The password offered to a server without one; the server keeps the one it has."""

    password: str
    password_hash: str
    saved_in: Path
    new: bool  # made for this run, not offered before

    @classmethod
    def for_server(cls, host: str) -> "DozzleLogin":
        path = secret_path(host, "dozzle-password")
        new = not path.exists()
        password = read_or_create(host, "dozzle-password")
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
        return cls(password, hashed, path, new)

    def forget_if_new(self) -> None:
        if self.new:
            self.saved_in.unlink(missing_ok=True)


def docker_variables(config: Config, docker_source: str | None = None) -> dict:
    source = docker_source or config.get("docker_engine_source") or "official"
    return {"docker_engine_source": validate.docker_source(source)}


def stack_variables(config: Config, dns_host: str | None = None, tls: str | None = None) -> dict:
    """Variables for the dallinger_server role; raises DlgrError on bad values."""
    tls = validate.tls(tls or config.get("tls") or "acme")
    email = (config.get("contact_email_on_error") or "").strip()
    if tls == "acme" and not validate.is_email(email):
        raise DlgrError(
            "Certificates from Let's Encrypt need a contact e-mail address: set "
            "contact_email_on_error in config.txt or ~/.dallingerconfig, or use --tls internal "
            "for a server without public DNS."
        )
    dns_host = dns_host or config.get("dns_host")
    variables = {
        "dallinger_server_tls": tls,
        "dallinger_server_acme_email": email,
        "dallinger_server_dns_host": validate.dns_host(dns_host) if dns_host else "",
    }
    for key, variable in IMAGE_KEYS.items():
        value = config.get(key)
        if value is not None:
            variables[variable] = validate.image(value) if value else ""
    images = [variables.get(variable) for variable in IMAGE_KEYS.values()]
    variables["dallinger_server_images_from_controller"] = locally_available(
        [image for image in images if image]
    )
    return variables


def server_variables(
    config: Config,
    host: str,
    dns_host: str | None = None,
    tls: str | None = None,
    docker_source: str | None = None,
) -> tuple[dict, DozzleLogin | None]:
    """Variables of provision.yml (also run by every deploy), and the Dozzle login offered."""
    variables = docker_variables(config, docker_source) | stack_variables(config, dns_host, tls)
    dozzle_enabled = config.get("docker_dozzle_image") != ""  # unset means the default image
    dozzle = DozzleLogin.for_server(host) if dozzle_enabled else None
    if dozzle:
        variables["dallinger_server_dozzle_password_hash"] = dozzle.password_hash
    return variables, dozzle


def dozzle_results(results: dict, host: str, ok: bool, dozzle: DozzleLogin | None) -> dict:
    """The Dozzle login to show, when the server took the one offered; forgets it otherwise."""
    taken = results.get("dlgr_dozzle_password_set", {}).get(host)
    if dozzle and ok and not taken:
        dozzle.forget_if_new()  # the server keeps a password of its own
    if not (dozzle and taken):
        return {}
    return {
        "dozzle": {
            "user": "dallinger",
            "password": dozzle.password,
            "saved_in": str(dozzle.saved_in),
        }
    }


def dozzle_message(login: dict) -> str:
    return (
        f"Dozzle log viewer: user {login['user']}, password {login['password']} "
        f"(also saved in {login['saved_in']}, readable only by you)."
    )
