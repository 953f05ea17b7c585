"""Commands that look after a whole server: apps, stats, logs, Dozzle, connections."""

import click

from dlgr_ansible.cli_common import app_option, not_yet, playbook_options, server_option


@click.command()
@server_option
@playbook_options
def apps(server, verbosity, as_json, keep_artifacts):
    """List the apps on a server with their state, URL and image."""
    not_yet("apps")


@click.command()
@server_option
@click.option("--follow", is_flag=True, help="Keep streaming.")
@playbook_options
def stats(server, follow, verbosity, as_json, keep_artifacts):
    """Show CPU and memory use of the containers on a server."""
    not_yet("stats")


@click.command()
@app_option
@server_option
@click.option("--service", default="web", show_default=True, help="Compose service of the app.")
@click.option("--follow", is_flag=True, help="Keep streaming.")
@click.option("--tail", type=int, help="Only the last N lines.")
def logs(app_name, server, service, follow, tail):
    """Show the logs of an app's containers."""
    not_yet("logs")


@click.command("set-dozzle-password")
@server_option
@click.option("--password", help="New password (prompted for, hidden, when omitted).")
@playbook_options
def set_dozzle_password(server, password, verbosity, as_json, keep_artifacts):
    """Set the password of the Dozzle log viewer (user 'dallinger')."""
    not_yet("set-dozzle-password")


@click.command("db-connections")
@server_option
@playbook_options
def db_connections(server, verbosity, as_json, keep_artifacts):
    """Show the number of connections per database on a server."""
    not_yet("db-connections")


COMMANDS = [apps, stats, logs, set_dozzle_password, db_connections]
