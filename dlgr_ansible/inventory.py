"""Render the saved servers into a YAML inventory that plain Ansible can use too."""

import shlex
from pathlib import Path

import jinja2

from dlgr_ansible.hosts import Server
from dlgr_ansible.resources import inventory_templates_dir

# Ansible's own names for the controller (ansible.constants.LOCALHOST). An inventory host
# named so becomes the target of every `delegate_to: localhost`, which would then run on
# the server; a server saved under one of them is listed under another name.
CONTROLLER_NAMES = {
    "localhost": "server-localhost",
    "127.0.0.1": "server-127.0.0.1",
    "::1": "server-ip6-localhost",  # no colons: Ansible's --limit splits on them
}


def inventory_name(host: str) -> str:
    """The name a saved server has in the inventory (its address stays ansible_host)."""
    return CONTROLLER_NAMES.get(host, host)


def default_known_hosts() -> Path:
    # An absolute path: ssh expands "~" from the password database, not from $HOME.
    return Path.home() / ".ssh" / "known_hosts"


def ssh_common_args(known_hosts: Path) -> str:
    return " ".join(
        [
            "-o StrictHostKeyChecking=accept-new",
            f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))}",
            # Only the configured key: agents with many keys trip MaxAuthTries.
            "-o IdentitiesOnly=yes",
            # Notice a dropped connection within a minute instead of hanging.
            "-o ServerAliveInterval=15 -o ServerAliveCountMax=4",
        ]
    )


def render_inventory(
    servers: dict[str, Server], key_file: Path, known_hosts: Path | None = None
) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(inventory_templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML; every value goes through tojson
    )
    template = environment.get_template("hosts.yml.j2")
    return template.render(
        servers={inventory_name(name): server for name, server in servers.items()},
        key_file=str(key_file),
        ssh_common_args=ssh_common_args(known_hosts or default_known_hosts()),
    )
