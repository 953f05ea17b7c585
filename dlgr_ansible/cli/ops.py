"""`apps`, `stats`, `logs`, `set-dozzle-password`, `db-connections` and `history`: a
whole server."""

import sys

import click

from dlgr_ansible.cli.app import (
    App,
    app_option,
    fleet_options,
    not_empty,
    on_terminal,
    pass_app,
    playbook_options,
    server_option,
    verbose_option,
)
from dlgr_ansible.cli.tables import (
    apps_table,
    capacity_table,
    db_connections_fleet_table,
    db_connections_table,
    history_table,
    stats_table,
)
from dlgr_ansible.commands import ops as commands
from dlgr_ansible.db_connections import near_limit_note
from dlgr_ansible.dozzle import USER as DOZZLE_USER
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.reports import Streamed


@click.command()
@fleet_options
@playbook_options
@pass_app
def apps(app: App, servers, every):
    """List the apps on a server (or on several: --server repeated, or --all) with their
    state, URL and image."""
    report = commands.apps(app.session(), servers, every)
    several = len(report.servers) > 1
    if not app.as_json and (report.ok or several):
        if report.apps or several:
            app.out.print(apps_table(report.apps, report.servers if several else None))
        else:
            app.err.print(f"No apps on {report.ran.host}.")
    app.finish(report, summary=False)


@click.command()
@fleet_options
@playbook_options
@pass_app
def capacity(app: App, servers, every):
    """Show the room on a server (or on several: --server repeated, or --all): memory, CPUs,
    Docker's disk, the apps running, and how many more apps the placement rule lets it
    take (memory_per_app_gb)."""
    report = commands.room(app.session(), servers, every)
    if not app.as_json and (report.ok or len(report.servers) > 1):
        app.out.print(capacity_table(report.rooms, report.servers))
    app.finish(report, summary=False)


@click.command()
@fleet_options
@click.option("--follow", is_flag=True, help="Keep streaming (over ssh, until Ctrl-C).")
@playbook_options
@pass_app
def stats(app: App, servers, every, follow):
    """Show CPU, memory and I/O use of the containers on a server (or on several:
    --server repeated, or --all)."""
    result = commands.stats(app.session(), servers, follow, app.as_json, on_terminal(), every)
    if isinstance(result, Streamed):
        raise click.exceptions.Exit(result.exit_code)
    several = len(result.servers) > 1
    if not app.as_json and (result.ok or several):
        app.out.print(stats_table(result.containers, result.servers if several else None))
    app.finish(result, summary=False)


@click.command()
@app_option
@server_option
@click.option("--service", default="web", show_default=True, help="Compose service of the app.")
@click.option("--follow", is_flag=True, help="Keep streaming (over ssh, until Ctrl-C).")
@click.option("--tail", type=int, help="Only the last N lines.")
@verbose_option("Show Ansible's output.")
@pass_app
def logs(app: App, app_name, server, service, follow, tail):
    """Show the logs of an app's containers (docker compose logs)."""
    result = commands.logs(app.session(), app_name, server, service, tail, follow, on_terminal())
    if isinstance(result, Streamed):
        raise click.exceptions.Exit(result.exit_code)
    if not result.ok:
        app.finish(result)
    text = result.text
    click.echo(text, nl=bool(text) and not text.endswith("\n"))


@click.command(context_settings={"ignore_unknown_options": True})
@app_option
@server_option
@click.option("--service", default="web", show_default=True, help="Compose service of the app.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
def shell(app: App, app_name, server, service, command):
    """Open a shell in one of an app's containers (docker compose exec, over ssh).

    With a COMMAND (after --), run that instead: dlgr-ansible shell --app X -- ls /experiment
    """
    result = commands.shell(app.session(), app_name, server, service, list(command), on_terminal())
    raise click.exceptions.Exit(result.exit_code)


@click.command(context_settings={"ignore_unknown_options": True})
@app_option
@server_option
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@pass_app
def psql(app: App, app_name, server, arguments):
    """Open psql on an app's own database, as the app's own database role (over ssh).

    PsyNet's `psynet db ssh` and Dallinger's `dallinger docker-ssh` log in as the
    superuser; this logs in as the app's role. Psql's own arguments go after --:
    dlgr-ansible psql --app X -- -c "select count(*) from participant"
    """
    result = commands.psql(app.session(), app_name, server, list(arguments), on_terminal())
    raise click.exceptions.Exit(result.exit_code)


def ask_dozzle_password() -> str:
    if not sys.stdin.isatty():
        raise DlgrError("No terminal to ask for the new password: give it with --password.")
    return click.prompt("New Dozzle password", hide_input=True, confirmation_prompt=True, err=True)


@click.command("set-dozzle-password")
@server_option
@click.option("--password", help="New password (prompted for, hidden, when omitted).")
@playbook_options
@pass_app
def set_dozzle_password(app: App, server, password):
    """Set the password of the Dozzle log viewer (user 'dallinger').

    Only a bcrypt hash goes to the server; the password is kept on this machine in
    ~/.dallinger/dlgr-ansible/<server>/dozzle-password (readable only by you).
    """
    report = commands.set_dozzle_password(app.session(), server, password, ask_dozzle_password)
    if app.finish(report):
        what = "set" if report.changed else "already set; nothing changed"
        app.say(
            f"Dozzle password for user {DOZZLE_USER} {what} "
            f"(saved in {report.saved_in}, readable only by you)."
        )


@click.command("db-connections")
@fleet_options
@playbook_options
@pass_app
def db_connections(app: App, servers, every):
    """Show the number of connections per database on a server (or on several: --server
    repeated, or --all)."""
    report = commands.db_connections(app.session(), servers, every)
    several = len(report.servers) > 1
    if not app.as_json and (report.ok or several):
        if several:
            app.out.print(db_connections_fleet_table(report.connections, report.servers))
        else:
            app.out.print(db_connections_table(next(iter(report.connections.values()))))
        for name, counted in report.connections.items():
            if note := near_limit_note(counted):
                app.say(f"{name}: {note}" if several else note)
    app.finish(report, summary=False)


@click.command()
@server_option
@click.option("--app", "app_name", callback=not_empty, help="Only the runs about this app.")
@click.option(
    "--last",
    type=int,
    default=20,
    show_default=True,
    help="How many of the newest runs (0: all of the newest 1000 lines read).",
)
@playbook_options
@pass_app
def history(app: App, server, app_name, last):
    """Show who changed a server, when, with what result: every deploy, update, rollback,
    destroy, provision and password change, failed and interrupted runs included."""
    report = commands.history(app.session(), server, app_name, last)
    if not app.finish(report, summary=False):
        return
    if report.entries:
        app.out.print(history_table(report.entries))
    else:
        app.err.print(
            f"No runs recorded on {report.ran.host}{' for ' + app_name if app_name else ''}."
        )


COMMANDS = [apps, capacity, stats, logs, shell, psql, set_dozzle_password, db_connections, history]
