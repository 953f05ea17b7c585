"""`dlgr-ansible local-server up|down|status`: a rehearsal server on this machine."""

import json

import click

from dlgr_ansible import local_server
from dlgr_ansible.cli.app import App, pass_app
from dlgr_ansible.inventory import default_known_hosts


@click.group("local-server")
def local_server_group():
    """A rehearsal server in a container on this machine, saved as server 'local'.

    Every command can be tried on it first, e.g. `dlgr-ansible deploy --server
    local`; apps answer at https://<app>.localhost:<https port>/.
    """


@local_server_group.command("up")
@click.option(
    "--ssh-port",
    default=local_server.Ports.ssh,
    show_default=True,
    envvar="DLGR_LOCAL_SSH_PORT",
    show_envvar=True,
)
@click.option(
    "--http-port",
    default=local_server.Ports.http,
    show_default=True,
    envvar="DLGR_LOCAL_HTTP_PORT",
    show_envvar=True,
)
@click.option(
    "--https-port",
    default=local_server.Ports.https,
    show_default=True,
    envvar="DLGR_LOCAL_HTTPS_PORT",
    show_envvar=True,
)
@click.option(
    "--base-image",
    default=local_server.DEFAULT_BASE,
    show_default=True,
    help="Debian trixie image the server is built on.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Build the base image with debootstrap instead of pulling it (needs root).",
)
@pass_app
def up(app: App, ssh_port, http_port, https_port, base_image, offline):
    """Build and start the rehearsal server and save it as 'local'. Safe to run again.

    Ports are published on 127.0.0.1 only. Your server_pem key is authorized for its
    user 'dallinger' (without server_pem, a new key is made and configured).
    """
    ports = local_server.Ports(ssh=ssh_port, http=http_port, https=https_port)
    session = app.session()
    server = local_server.up(
        session.config(),
        session.store(),
        default_known_hosts(),
        ports,
        base_image=base_image,
        offline=offline,
        say=app.err.print,
    )
    app.say(
        f"Rehearsal server running: saved as '{server.host}' (SSH port {server.port}). "
        f"Apps will answer at https://<app>.localhost:{server.https_port}/"
    )


@local_server_group.command("down")
@pass_app
def down(app: App):
    """Remove the rehearsal server with every app and database on it."""
    if local_server.down(app.session().store(), default_known_hosts()):
        app.err.print("Removed the rehearsal server and forgot the server 'local'.")
    else:
        app.err.print("There is no rehearsal server.")


@local_server_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_app
def status(app: App, as_json):
    """Say whether the rehearsal server runs, and on which ports."""
    current = local_server.status()
    if as_json:
        click.echo(json.dumps(current.to_json(), indent=2))
        return
    if current.ports is None:
        app.out.print("absent (start it with `dlgr-ansible local-server up`)")
        return
    ports = current.ports
    app.out.print(
        f"{current.state}: server 'local', SSH 127.0.0.1:{ports.ssh}, "
        f"HTTP 127.0.0.1:{ports.http}, HTTPS 127.0.0.1:{ports.https}"
    )


COMMANDS = [local_server_group]
