"""`deploy`, `sandbox`, `export`, `move` and `destroy`: one app on one server (or, moved, two)."""

import sys
from pathlib import Path

import click

from dlgr_ansible import validate
from dlgr_ansible.cli.app import (
    App,
    app_option,
    config_option,
    not_empty,
    options,
    pass_app,
    playbook_options,
    server_option,
)
from dlgr_ansible.cli.servers import dozzle_message
from dlgr_ansible.cli.tables import phases_line, releases_table
from dlgr_ansible.commands import apps as commands
from dlgr_ansible.commands import move as commands_move
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.export import FORMATS
from dlgr_ansible.images import PASSWORD_ENV, USERNAME_ENV
from dlgr_ansible.releases import RESTART_KEY, ROLLBACK_KEY
from dlgr_ansible.reports import Deployed

# How the server logs in to a private registry to pull the image.
registry_options = options(
    click.option(
        "--registry-user",
        help=f"Log in to the image's registry as this user (or set {USERNAME_ENV}). The "
        f"password comes from {PASSWORD_ENV} or a prompt, never from an option.",
    ),
    click.option(
        "--keep-login",
        is_flag=True,
        help="Keep the registry login in the server's ~/.docker/config.json (0600). By "
        "default it is removed right after the pull.",
    ),
)


def ask_registry_password() -> str:
    if not sys.stdin.isatty():
        return ""
    return click.prompt("Registry password", hide_input=True, err=True)


def _deploy_command(name: str, mode: str) -> click.Command:
    @click.command(name)
    @app_option
    @click.option("--image", callback=not_empty, help="Docker image of the experiment.")
    @click.option(
        "--dns-host",
        callback=not_empty,
        help="Domain whose subdomains point at the server, or 'nip.io'.",
    )
    @click.option(
        "--tls",
        type=click.Choice(validate.TLS_MODES),
        help="Certificates from Let's Encrypt or Caddy's own CA.",
    )
    @config_option
    @click.option(
        "--server",
        callback=not_empty,
        help="Saved server to use, or 'auto': the one with the most room for a new app. "
        "May be omitted when only one is saved.",
    )
    @click.option(
        "--force",
        is_flag=True,
        help="Deploy a new app even to a server the placement rule counts as full "
        "(memory_per_app_gb).",
    )
    @click.option(
        "--update",
        "-u",
        is_flag=True,
        help="Update an existing app: new image and config, data kept.",
    )
    @click.option(
        "--archive",
        "-a",
        type=click.Path(exists=True, dir_okay=False),
        help="Export zip to seed the database.",
    )
    @click.option(
        "--ca-bundle",
        # Checked only when something is built: the variable may be set for every shell.
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="DLGR_CA_BUNDLE",
        help="CA bundle for pip when the image is built here (TLS-intercepting proxies); "
        "it reaches the experiment's Dockerfile as build-ca/ca-certificates.crt. Or set "
        "DLGR_CA_BUNDLE.",
    )
    @click.option(
        "--health-timeout",
        type=click.IntRange(min=1),
        metavar="SECONDS",
        help="How long an update's new web container has to answer before the update is "
        "rolled back (the old one serves meanwhile). Default: 120.",
    )
    @registry_options
    @playbook_options
    @pass_app
    def command(app: App, **chosen):
        report = commands.deploy(app.session(), mode, ask_password=ask_registry_password, **chosen)
        timing = phases_line(report.phases)
        if app.finish(report, notes=[*report.advice, *([timing] if timing else [])]):
            for line in deploy_summary(report):
                app.say(line)

    command.help = (
        f"Deploy an experiment image in {mode} mode: database, Redis, web and worker "
        "containers, a Caddy site with HTTPS, then launch the experiment."
    )
    return command


def deploy_summary(report: Deployed) -> list[str]:
    """What the researcher needs next: URLs, the dashboard password once, the logs."""
    app = report.app
    if not app:
        return []
    lines = []
    if app["recruitment_msg"]:
        lines += ["Recruitment:", app["recruitment_msg"], ""]
    lines += [
        f"Experiment: {app['url']}",
        f"Dashboard:  {app['dashboard_url']} (user {app['dashboard_user']})",
    ]
    if "dashboard_password" in app:
        lines.append(
            f"Dashboard password: {app['dashboard_password']} (shown once; saved in "
            f"{app['dashboard_password_file']}, readable only by you)"
        )
    elif "dashboard_password_file" in app:
        lines.append(f"Dashboard password: in {app['dashboard_password_file']}")
    elif app.get("dashboard_password_kept"):
        lines.append("Dashboard password: the one the app had (not saved on this machine)")
    lines.append(f"Logs: {app['logs']}")
    if report.dozzle:
        lines.append(dozzle_message(report.dozzle))
    return lines


@click.command()
@app_option
@server_option
@click.option(
    "--no-scrub",
    is_flag=True,
    help="Dallinger's zip: keep personal data (worker ids, IP addresses).",
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="psynet: PsyNet's own export; dallinger: Dallinger's zip; auto: psynet for a PsyNet app.",
)
@click.option(
    "--output", type=click.Path(file_okay=False), help="Directory for data/ (default: here)."
)
@playbook_options
@pass_app
def export(app: App, app_name, server, no_scrub, export_format, output):
    """Export an app's data under data/: Dallinger's data/<app>-data.zip, or for a PsyNet app
    PsyNet's own export (as `psynet export ssh` lays it out) in data/<app>-psynet-<time>/."""
    report = commands.export(app.session(), app_name, server, not no_scrub, output, export_format)
    if app.finish(report):
        app.say(f"Exported {report.name} to {report.path}")


@click.command()
@app_option
@server_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-backup", is_flag=True, help="Skip the export taken before anything is removed.")
@playbook_options
@pass_app
def destroy(app: App, app_name, server, yes, no_backup):
    """Back up, then remove an app: containers, Caddy site, database, role and data."""

    def confirm(name: str, question: str) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise DlgrError(
                f"Destroying {name} needs confirmation: add --yes to run without a terminal."
            )
        click.confirm(question, abort=True, err=True)

    report = commands.destroy(app.session(), app_name, server, not no_backup, confirm)
    if not app.finish(report):
        return
    host = report.ran.host
    where = f"; backup in {report.backup} (+ .pgdump, -files.tar.gz)" if report.backup else ""
    if report.ran.changed():
        app.say(f"Removed {report.name} from {host}{where}.")
    else:
        app.say(f"There was nothing of {report.name} on {host}.")


@click.command()
@app_option
@click.option(
    "--server",
    callback=not_empty,
    help="Saved server the app is on.",
)
@click.option("--to", callback=not_empty, help="Saved server to move the app to.")
@click.option(
    "--dns-host",
    callback=not_empty,
    help="Domain whose subdomains point at the new server, or 'nip.io' (default: as deploy "
    "works it out for that server).",
)
@click.option(
    "--tls", type=click.Choice(validate.TLS_MODES), help="Certificates on the new server."
)
@click.option(
    "--force",
    is_flag=True,
    help="Move even to a server the placement rule counts as full (memory_per_app_gb).",
)
@click.option(
    "--remove-source",
    is_flag=True,
    help="Once the copy serves with every row, remove the app from the server it left "
    "(asked again first).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (neither question).")
@playbook_options
@pass_app
def move(app: App, app_name, server, to, dns_host, tls, force, remove_source, yes):
    """Move an app to another saved server: stop it, back it up here, deploy it there with
    its data, settings and dashboard password, check every table's rows, then (with
    --remove-source) remove it from the server it left."""

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise DlgrError(
                "Moving an app needs confirmation: add --yes to run without a terminal."
            )
        return click.confirm(question, err=True)

    report = commands_move.move(
        app.session(),
        app_name,
        server,
        to,
        dns_host=dns_host,
        tls=tls,
        force=force,
        remove_source=remove_source,
        confirm=confirm,
    )
    if not app.finish(report, notes=move_notes(report)):
        return
    if report.removed:
        app.say(f"Removed {report.name} from {report.source}.")
    else:
        app.say(
            f"{report.name} stays stopped on {report.source} with its data; remove it with "
            f"`dlgr-ansible destroy --app {report.name} --server {report.source}`."
        )


def move_notes(report) -> list[str]:
    """Said whatever the last run did: a failed removal comes after a move that worked."""
    notes = []
    if report.started_again:
        notes.append(f"{report.name} runs on {report.source} again, as before the move.")
    if report.backup:
        notes.append(f"Backup of the move: {report.backup} (+ .pgdump, -files.tar.gz)")
    if report.app:
        notes.append(
            f"Moved {report.name} from {report.source} to {report.target}: {report.rows} rows, "
            "every table checked."
        )
        notes += deploy_summary(report)
    return notes


@click.command()
@app_option
@server_option
@playbook_options
@pass_app
def rollback(app: App, app_name, server):
    """Return an app to its previous release (image and settings), without downtime."""
    report = commands.rollback(app.session(), app_name, server)
    if app.finish(report):
        back = report.ran.host_data(ROLLBACK_KEY) or {}
        app.say(f"{report.name} runs release {back.get('release')} again ({back.get('image')}).")
        app.say("The next `deploy --update` deploys what your config says again.")


@click.command()
@app_option
@server_option
@click.option(
    "--service",
    "services",
    multiple=True,
    help="Compose service to restart (repeatable); default: web, the workers and the clock.",
)
@playbook_options
@pass_app
def restart(app: App, app_name, server, services):
    """Restart an app's services without dropping a request: the web is handed over to a new
    container, the workers and the clock finish their job first."""
    report = commands.restart(app.session(), app_name, server, services)
    if app.finish(report):
        done = (report.ran.host_data(RESTART_KEY) or {}).get("services") or []
        app.say(f"Restarted {', '.join(done) or 'nothing'} of {report.name}.")


@click.command()
@app_option
@server_option
@playbook_options
@pass_app
def releases(app: App, app_name, server):
    """List the releases of an app kept on its server (for rollback), oldest first."""
    report = commands.releases(app.session(), app_name, server)
    if not app.finish(report, summary=False):
        return
    if report.releases:
        app.out.print(releases_table(report.releases))
    else:
        app.err.print("No releases kept yet: the next deploy or update makes one.")


COMMANDS = [
    _deploy_command("deploy", "live"),
    _deploy_command("sandbox", "sandbox"),
    rollback,
    restart,
    releases,
    export,
    move,
    destroy,
]
