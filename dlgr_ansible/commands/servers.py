"""Servers: add, list, forget and check them, render an inventory, provision the stack."""

from dataclasses import replace

from dlgr_ansible import dozzle, provision, server_settings, sshkeys
from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import render_inventory
from dlgr_ansible.reports import Provisioned, ServerAdded, ServerChecked
from dlgr_ansible.session import Session


def add(
    session: Session, host: str, user: str | None, port, settings: dict[str, str]
) -> ServerAdded:
    """Check SSH and sudo, install Docker, and save the server (with `settings`, on top of
    those it had when saved before) when that worked."""
    server = Server.new(host, user, port, settings)
    before = session.store().servers().get(server.host)
    if before is not None:
        server = replace(server, settings=before.settings | server.settings)
    config = session.config(server=server)
    variables = provision.docker_variables(config)
    ran = session.run(
        "prepare.yml", server, config, variables, f"Preparing {server.host}", command="servers add"
    )
    if ran.ok:
        session.store().add(server)
    return ServerAdded(ran, server=server)


def set_settings(
    session: Session, name: str | None, settings: dict[str, str], unset: tuple[str, ...]
) -> Server:
    """Change the settings saved with a server; nothing on the server is touched."""
    server = session.server(name)
    changed = Server.new(server.host, server.user, server.port, settings)
    for key in unset:
        if key not in server_settings.KEYS:
            raise server_settings.SettingsProblem(
                f"--unset {key}: not a server setting. Server settings: "
                f"{', '.join(server_settings.SETTINGS_ORDER)}."
            )
    kept = {key: value for key, value in server.settings.items() if key not in unset}
    server = replace(server, settings=kept | changed.settings)
    session.store().add(server)
    return server


def saved(session: Session) -> dict[str, Server]:
    return session.store().servers()


def remove(session: Session, name: str | None) -> Server:
    """Forget a saved server; nothing on it is touched."""
    server = session.server(name)
    session.store().remove(server.host)
    return server


def check(
    session: Session, names: tuple[str, ...] | str | None = (), every: bool = False
) -> ServerChecked:
    """Login, Python and sudo on one server, or on several in one run."""
    targets = session.servers(names, every)
    title = f"Checking {', '.join(target.host for target in targets)}"
    ran = session.run("ping.yml", targets, session.config(), None, title)
    return ServerChecked(ran, servers=ran.outcomes())


def inventory(session: Session, name: str | None) -> str:
    """The saved servers (or the one named) as a YAML inventory for plain Ansible."""
    servers = session.store().selection(name)
    return render_inventory(servers, sshkeys.configured_key(session.config()))


def provision_server(
    session: Session, name: str | None, dns_host, tls, docker_source, config_pairs
) -> Provisioned:
    """Docker and the shared stack; a Dozzle password is offered to a server without one."""
    target = session.server(name)
    config = session.config(config_pairs, target)
    variables, login = provision.server_variables(
        config, target.host, dns_host, tls, docker_source, session.local_images
    )
    # Asked for by name, a provision is done in full; a deploy checks the stack first.
    variables["dallinger_server_reprovision"] = True
    ran = session.run(
        "provision.yml",
        target,
        config,
        variables,
        f"Provisioning {target.host}",
        command="provision",
    )
    return Provisioned(ran, dozzle=dozzle.offer_outcome(ran.results, ran.run.limit, ran.ok, login))
