"""Servers: add, list, forget and check them, render an inventory, provision the stack."""

from dataclasses import replace

from dlgr_ansible import dozzle, provision, server_settings, sshkeys
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import inventory_name, render_inventory
from dlgr_ansible.reports import Provisioned, ServerAdded, ServerChecked
from dlgr_ansible.session import Session
from dlgr_ansible.validate import ValidationError


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


def provision_servers(
    session: Session,
    names: tuple[str, ...] | str | None,
    every: bool,
    dns_host: str | None,
    tls: str | None,
    docker_source: str | None,
    config_pairs,
) -> Provisioned:
    """Docker and the shared stack on one server, or on several in one run, each with its
    own saved settings; a Dozzle password is offered to a server without one."""
    targets = session.servers(names, every)
    if dns_host and len(targets) > 1:
        raise ValidationError(
            "--dns-host is one server's domain: give it with one --server, or save each "
            "server's with `dlgr-ansible servers set --server NAME --dns-host DOMAIN`."
        )
    configs = {target.host: session.config(config_pairs, target) for target in targets}
    own = {}
    for host, config in configs.items():  # every server's settings checked before any offer
        try:
            own[host] = provision.docker_variables(config, docker_source) | (
                provision.stack_variables(config, dns_host, tls, session.local_images)
            )
        except DlgrError as error:
            raise (error if len(targets) == 1 else DlgrError(f"{host}: {error}")) from None
    logins = {host: provision.dozzle_offer(config, host) for host, config in configs.items()}
    for host, login in logins.items():
        own[host] |= provision.dozzle_variables(login)
    names_shown = ", ".join(configs)
    ran = session.run(
        "provision.yml",
        targets,
        session.config(config_pairs),
        # Asked for by name, a provision is done in full; a deploy checks the stack first.
        {"dallinger_server_reprovision": True},
        f"Provisioning {names_shown}",
        command="provision",
        host_variables=own,
    )
    outcomes = ran.outcomes()
    taken = {}
    for outcome in outcomes:
        login = dozzle.offer_outcome(
            ran.results, inventory_name(outcome.server), outcome.ok, logins[outcome.server]
        )
        if login:
            taken[outcome.server] = login
    return Provisioned(ran, servers=outcomes, dozzle_by_server=taken)
