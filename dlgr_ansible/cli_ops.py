"""Commands that look after a whole server: apps, stats, logs, Dozzle, connections."""

import subprocess
import sys

import click

from dlgr_ansible import server_ops
from dlgr_ansible.cli_common import App, app_option, pass_app, playbook_options, server_option
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.runner import PlaybookRun, RunOutcome
from dlgr_ansible.servers import key_file, server_run


def _server_data(outcome: RunOutcome, key: str, host: str) -> dict | list | None:
    """What the playbook handed back for this host; removed from the --json report."""
    return (outcome.state.results.pop(key, None) or {}).get(host)


def _finish(app: App, outcome: RunOutcome, run: PlaybookRun, as_json: bool, results: dict):
    """--json: the usual report plus `results`. Otherwise a failure's summary (exit 1), or
    nothing: the caller then prints its table on stdout."""
    if as_json or not outcome.ok:
        app.report(outcome, run, as_json, results)
        return False
    if outcome.artifacts_dir:
        app.err.print(f"Ansible artifacts kept in {outcome.artifacts_dir}")
    return True


def _stream(app: App, server_name: str | None, remote: list[str]) -> int:
    """Run a remote command over ssh with our output as its output, until it or Ctrl-C ends.

    The one path that bypasses Ansible: a module returns only when its command has ended,
    so `--follow` cannot go through a playbook. ssh gets exactly the options the rendered
    inventory gives Ansible (the same key, known_hosts file and host key policy).
    """
    server = app.server(server_name)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    argv = server_ops.ssh_argv(server, key_file(app.config()), remote, tty=tty)
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError as exc:
        raise DlgrError(
            "`ssh` is not installed on this machine; install OpenSSH's client."
        ) from exc
    except KeyboardInterrupt:
        return 130


@click.command()
@server_option
@playbook_options
@pass_app
def apps(app: App, server, verbosity, as_json, keep_artifacts):
    """List the apps on a server with their state, URL and image."""
    target = app.server(server)
    run = server_run("apps.yml", target, app.config(), None, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Listing the apps on {target.host}")
    found = server_ops.apps_from_server(
        _server_data(outcome, server_ops.APPS_KEY, target.host) or {}, target.https_port
    )
    if not _finish(app, outcome, run, as_json, {"apps": [a.to_json() for a in found]}):
        return
    if found:
        app.out.print(server_ops.apps_table(found))
    else:
        app.err.print(f"No apps on {target.host}.")


@click.command()
@server_option
@click.option("--follow", is_flag=True, help="Keep streaming (over ssh, until Ctrl-C).")
@playbook_options
@pass_app
def stats(app: App, server, follow, verbosity, as_json, keep_artifacts):
    """Show CPU, memory and I/O use of the containers on a server."""
    if follow:
        if as_json:
            raise DlgrError("--follow streams `docker stats` as text; leave out --json.")
        raise click.exceptions.Exit(_stream(app, server, server_ops.STATS_FOLLOW_COMMAND))
    target = app.server(server)
    run = server_run("stats.yml", target, app.config(), None, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Measuring the containers on {target.host}")
    rows = server_ops.parse_stats(_server_data(outcome, server_ops.STATS_KEY, target.host) or [])
    if _finish(app, outcome, run, as_json, {"containers": rows}):
        app.out.print(server_ops.stats_table(rows))


@click.command()
@app_option
@server_option
@click.option("--service", default="web", show_default=True, help="Compose service of the app.")
@click.option("--follow", is_flag=True, help="Keep streaming (over ssh, until Ctrl-C).")
@click.option("--tail", type=int, help="Only the last N lines.")
@click.option("-v", "--verbose", "verbosity", count=True, help="Show Ansible's output.")
@pass_app
def logs(app: App, app_name, server, service, follow, tail, verbosity):
    """Show the logs of an app's containers (docker compose logs)."""
    if not app_name:
        raise DlgrError("Name the app with --app; `dlgr-ansible apps` lists them.")
    variables = server_ops.logs_variables(app_name, service, tail)  # checked before connecting
    target = app.server(server)
    if follow:
        code = _stream(app, target.host, server_ops.logs_follow_command(app_name, service, tail))
        if code == server_ops.APP_MISSING_EXIT:
            raise server_ops.no_such_app(app_name, target.host)
        raise click.exceptions.Exit(code)
    run = server_run("logs.yml", target, app.config(), variables, verbosity, False)
    outcome = app.execute(run, f"Reading the logs of {app_name} on {target.host}")
    found = _server_data(outcome, server_ops.LOGS_KEY, target.host) or {}
    if not outcome.ok:
        app.report(outcome, run, False)
    if not found.get("found"):
        raise server_ops.no_such_app(app_name, target.host)
    text = found.get("text") or ""
    click.echo(text, nl=bool(text) and not text.endswith("\n"))


@click.command("set-dozzle-password")
@server_option
@click.option("--password", help="New password (prompted for, hidden, when omitted).")
@playbook_options
@pass_app
def set_dozzle_password(app: App, server, password, verbosity, as_json, keep_artifacts):
    """Set the password of the Dozzle log viewer (user 'dallinger').

    Only a bcrypt hash goes to the server; the password is kept on this machine in
    ~/.dallinger/dlgr-ansible/<server>/dozzle-password (readable only by you).
    """
    target = app.server(server)
    config = app.config()
    key_file(config)  # a missing key is said before the password is asked for
    if password is None:
        if not sys.stdin.isatty():
            raise DlgrError("No terminal to ask for the new password: give it with --password.")
        password = click.prompt(
            "New Dozzle password", hide_input=True, confirmation_prompt=True, err=True
        )
    new = server_ops.DozzlePassword.of(password)
    # Kept before the run, so an interrupted run cannot leave a password nobody has seen.
    previous = server_ops.read_secret(target.host)
    saved_in = server_ops.save_secret(target.host, new.password)
    run = server_run(
        "dozzle_password.yml", target, config, new.variables(), verbosity, keep_artifacts
    )
    outcome = app.execute(run, f"Setting Dozzle's password on {target.host}")
    written = _server_data(outcome, server_ops.DOZZLE_KEY, target.host)
    if not outcome.ok and not (written or {}).get("changed"):
        server_ops.save_secret(target.host, previous)  # the server kept the old one
    changed = bool((written or {}).get("changed"))
    app.report(
        outcome,
        run,
        as_json,
        {"dozzle": {"user": "dallinger", "changed": changed, "saved_in": str(saved_in)}},
    )
    if not as_json:
        what = "set" if changed else "already set; nothing changed"
        app.err.print(
            f"Dozzle password for user {server_ops.DOZZLE_USER} {what} "
            f"(saved in {saved_in}, readable only by you).",
            soft_wrap=True,
        )


@click.command("db-connections")
@server_option
@playbook_options
@pass_app
def db_connections(app: App, server, verbosity, as_json, keep_artifacts):
    """Show the number of connections per database on a server."""
    target = app.server(server)
    run = server_run("db_connections.yml", target, app.config(), None, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Counting database connections on {target.host}")
    report = server_ops.db_connections_from_server(
        _server_data(outcome, server_ops.DB_KEY, target.host) or {}
    )
    if _finish(app, outcome, run, as_json, {"connections": report}):
        app.out.print(server_ops.db_connections_table(report))


COMMANDS = [apps, stats, logs, set_dozzle_password, db_connections]
