"""`servers add|list|remove|check`, `inventory` and `provision`."""

import json

import click

from dlgr_ansible import server_settings, validate
from dlgr_ansible.cli.app import (
    App,
    config_option,
    docker_source_option,
    fleet_options,
    not_empty,
    pass_app,
    playbook_options,
    server_option,
)
from dlgr_ansible.cli.tables import servers_table
from dlgr_ansible.commands import servers as commands
from dlgr_ansible.reports import server_list


@click.group()
def servers():
    """Manage the servers experiments are deployed to."""


def setting_options(command):
    """One option per server setting (dlgr_ansible.server_settings), each passed on under
    its config key; None when not given."""
    for setting in reversed(server_settings.SETTINGS):
        choices = {"tls": validate.TLS_MODES, "docker_engine_source": validate.DOCKER_SOURCES}
        kind = click.Choice(choices[setting.key]) if setting.key in choices else None
        command = click.option(
            setting.option,
            setting.key,
            type=kind,
            metavar=None if kind else "VALUE",
            help=setting.help,
        )(command)
    return command


def given(settings: dict) -> dict[str, str]:
    return {key: value for key, value in settings.items() if value is not None}


@servers.command("add")
@click.option("--host", required=True, help="DNS name or IP address of the server.")
@click.option("--user", help="User to log in as (needs passwordless sudo).")
@click.option("--port", default=22, show_default=True, help="SSH port.")
@setting_options
@playbook_options
@pass_app
def servers_add(app: App, host, user, port, **settings):
    """Check SSH login and passwordless sudo, install Docker and compose, then save the server
    with its settings.

    The SSH key is the `server_pem` setting of config.txt or ~/.dallingerconfig.
    Saved servers are visible to `dallinger docker-ssh` too; the settings are saved as
    extra keys of the server's record, which Dallinger ignores.
    """
    report = commands.add(app.session(), host, user, port, given(settings))
    if app.finish(report):
        app.err.print(f"Saved server {report.server.host}.")


@servers.command("set")
@server_option
@setting_options
@click.option(
    "--unset",
    multiple=True,
    metavar="KEY",
    help="Forget a saved setting (its config key, e.g. tls); repeatable.",
)
@pass_app
def servers_set(app: App, server, unset, **settings):
    """Change the settings saved with a server (nothing on the server changes until the next
    provision or deploy).

    Deploys and provisions use them unless -c KEY VALUE or an option says otherwise;
    ~/.dallinger/dlgr-ansible/config.txt holds defaults for every server.
    """
    saved = commands.set_settings(app.session(), server, given(settings), tuple(unset))
    shown = ", ".join(f"{key} = {value}" for key, value in saved.settings.items())
    app.err.print(f"Settings of {saved.host}: {shown or 'none'}.")


@servers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the servers as JSON.")
@pass_app
def servers_list(app: App, as_json):
    """List saved servers (those saved by `dallinger docker-ssh` too)."""
    saved = commands.saved(app.session())
    if as_json:
        click.echo(json.dumps(server_list(saved), indent=2))
    elif not saved:
        app.err.print(
            "No server saved. Add one with `dlgr-ansible servers add --host HOST --user USER`."
        )
    else:
        app.out.print(servers_table(saved))


@servers.command("remove")
@click.option("--host", help="Saved server to forget; may be omitted when only one is saved.")
@pass_app
def servers_remove(app: App, host):
    """Forget a saved server. Nothing on the server is touched."""
    server = commands.remove(app.session(), host)
    app.err.print(f"Removed {server.host} from the saved servers.")


@servers.command("check")
@fleet_options
@playbook_options
@pass_app
def servers_check(app: App, servers, every):
    """Check that a saved server (or several: --server repeated, or --all) is reachable and
    has passwordless sudo."""
    app.finish(commands.check(app.session(), servers, every))


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of stdout.",
)
@server_option
@pass_app
def inventory(app: App, output, server):
    """Print an Ansible inventory of the saved servers.

    Use it with plain Ansible: ansible-playbook -i inventory.yml playbooks/<x>.yml
    """
    text = commands.inventory(app.session(), server)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        app.err.print(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


@click.command()
@fleet_options
@click.option(
    "--dns-host",
    callback=not_empty,
    help="Domain whose subdomains point at the server (enables /health-check and logs.<domain>).",
)
@click.option(
    "--tls",
    type=click.Choice(validate.TLS_MODES),
    help="Certificates from Let's Encrypt (acme) or Caddy's own CA (internal).",
)
@docker_source_option
@config_option
@playbook_options
@pass_app
def provision(app: App, servers, every, dns_host, tls, docker_source, config_pairs):
    """Install Docker and compose, and bring the shared Caddy + PostgreSQL + Dozzle stack up to date.

    Several servers (--server repeated, or --all) are provisioned in one run, in
    parallel, each with its saved settings. Safe to run again: a second run changes
    nothing. A server set up by `dallinger docker-ssh` is adopted with its apps and data.
    """
    report = commands.provision_servers(
        app.session(), servers, every, dns_host, tls, docker_source, config_pairs
    )
    several = len(report.servers) > 1
    # Said even when another server failed: a new password is shown this once.
    notes = [
        dozzle_message(login, server if several else None)
        for server, login in report.dozzle_by_server.items()
    ]
    app.finish(report, notes=notes)


def dozzle_message(login: dict, server: str | None = None) -> str:
    where = f"{server}: " if server else ""
    return (
        f"{where}Dozzle log viewer: user {login['user']}, password {login['password']} "
        f"(also saved in {login['saved_in']}, readable only by you)."
    )


COMMANDS = [servers, inventory, provision]
