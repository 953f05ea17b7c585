"""Whole-server views and chores: apps, container stats, logs, Dozzle's password and
database connections, the deploy history. `--follow` views stream over ssh (dlgr_ansible.ssh)."""

from collections.abc import Callable

from dlgr_ansible import (
    app_logs,
    container_stats,
    dozzle,
    fleet,
    placement,
    server_apps,
    ssh,
    sshkeys,
    validate,
)
from dlgr_ansible.db_connections import DB_KEY, db_connections_from_server
from dlgr_ansible.history import HISTORY_KEY, parse_history
from dlgr_ansible.hosts import Server
from dlgr_ansible.reports import (
    AppsListed,
    CapacityMeasured,
    ConnectionsCounted,
    ContainersMeasured,
    DozzlePasswordSet,
    HistoryShown,
    LogsRead,
    Streamed,
)
from dlgr_ansible.session import Session
from dlgr_ansible.validate import ValidationError, required_app_name

# --server given once, several times, or not at all (a library caller may pass one name).
Names = tuple[str, ...] | str | None


def _follow(session: Session, server: Server, remote: list[str], tty: bool) -> int:
    argv = ssh.ssh_argv(server, sshkeys.configured_key(session.config()), remote, tty=tty)
    return ssh.stream(argv)


def shell(
    session: Session,
    app_name: str | None,
    server: str | None,
    service: str,
    command: list[str],
    tty: bool,
) -> Streamed:
    """A shell (or `command`) in one of the app's containers, over ssh."""
    name = required_app_name(app_name)
    remote = app_logs.shell_command(name, validate.service_name(service), command, tty)
    target = session.server(server)
    code = _follow(session, target, remote, tty)
    if code == app_logs.APP_MISSING_EXIT:
        raise app_logs.no_such_app(name, target.host)
    return Streamed(code)


def psql(
    session: Session, app_name: str | None, server: str | None, arguments: list[str], tty: bool
) -> Streamed:
    """psql on the app's own database as its own role, over ssh."""
    name = required_app_name(app_name)
    target = session.server(server)
    code = _follow(session, target, app_logs.psql_command(name, arguments, tty), tty)
    if code == app_logs.APP_MISSING_EXIT:
        raise app_logs.no_such_app(name, target.host)
    return Streamed(code)


def apps(session: Session, servers: Names = (), every: bool = False) -> AppsListed:
    """The apps of one server, or of several in one run (`servers` named, or `every`)."""
    targets = session.servers(servers, every)
    ran = session.run(
        "apps.yml", targets, session.config(), None, f"Listing the apps on {_names(targets)}"
    )
    found = ran.data_by_server(server_apps.APPS_KEY)
    rows = [
        app
        for target in targets
        if found[target.host] is not None
        for app in server_apps.apps_from_server(found[target.host], target.https_port, target.host)
    ]
    return AppsListed(ran, apps=rows, servers=ran.outcomes())


def stats(
    session: Session,
    servers: Names,
    follow: bool,
    as_json: bool,
    tty: bool,
    every: bool = False,
) -> ContainersMeasured | Streamed:
    """One measurement through a playbook (of several servers, too), or with `follow`
    `docker stats` of one server streamed."""
    if follow:
        if as_json:
            raise ValidationError("--follow streams `docker stats` as text; leave out --json.")
        names = fleet.as_names(servers)
        if every or len(names) > 1:
            raise ValidationError("--follow streams one server; give one --server.")
        target = session.server(names[0] if names else None)
        return Streamed(_follow(session, target, container_stats.FOLLOW_COMMAND, tty))
    targets = session.servers(servers, every)
    ran = session.run(
        "stats.yml",
        targets,
        session.config(),
        None,
        f"Measuring the containers on {_names(targets)}",
    )
    rows = [
        row | {"server": name}
        for name, data in ran.data_by_server(container_stats.STATS_KEY).items()
        for row in container_stats.parse_stats(data or [])
    ]
    return ContainersMeasured(ran, containers=rows, servers=ran.outcomes())


def room(session: Session, servers: Names = (), every: bool = False) -> CapacityMeasured:
    """Memory, CPUs, Docker's disk and the apps that run, per server, and how many more
    apps each one's placement rule lets it take."""
    targets = session.servers(servers, every)
    return placement.measure_room(session, targets, f"Measuring the room on {_names(targets)}")


def _names(targets: list[Server]) -> str:
    return ", ".join(target.host for target in targets)


def logs(
    session: Session,
    app_name: str | None,
    server: str | None,
    service: str,
    tail: int | None,
    follow: bool,
    tty: bool,
) -> LogsRead | Streamed:
    """The app's compose logs through a playbook, or with `follow` streamed over ssh."""
    name = required_app_name(app_name)
    variables = app_logs.logs_variables(name, service, tail)  # checked before connecting
    target = session.server(server)
    if follow:
        remote = app_logs.logs_follow_command(name, service, tail)
        code = _follow(session, target, remote, tty)
        if code == app_logs.APP_MISSING_EXIT:
            raise app_logs.no_such_app(name, target.host)
        return Streamed(code)
    ran = session.run(
        "logs.yml",
        target,
        session.config(),
        variables,
        f"Reading the logs of {name} on {target.host}",
    )
    found = ran.host_data(app_logs.LOGS_KEY) or {}
    if ran.ok and not found.get("found"):
        raise app_logs.no_such_app(name, target.host)
    return LogsRead(ran, text=found.get("text") or "")


def set_dozzle_password(
    session: Session, server: str | None, password: str | None, ask_password: Callable[[], str]
) -> DozzlePasswordSet:
    """Only the hash goes to the server; the password is kept here first, and the old
    one put back when the server kept its own."""
    target = session.server(server)
    config = session.config()
    sshkeys.configured_key(config)  # a missing key is said before the password is asked for
    if password is None:
        password = ask_password()
    login = dozzle.DozzleLogin.chosen(target.host, password)
    # Kept before the run, so an interrupted run cannot leave a password nobody has seen.
    previous = dozzle.read_saved(target.host)
    saved_in = dozzle.save(target.host, login.password)
    ran = session.run(
        "dozzle_password.yml",
        target,
        config,
        login.variables(),
        f"Setting Dozzle's password on {target.host}",
        command="set-dozzle-password",
    )
    changed = bool((ran.host_data(dozzle.CHANGED_KEY) or {}).get("changed"))
    if not ran.ok and not changed:
        dozzle.save(target.host, previous)  # the server kept the old one
    return DozzlePasswordSet(ran, user=dozzle.USER, changed=changed, saved_in=saved_in)


def db_connections(
    session: Session, servers: Names = (), every: bool = False
) -> ConnectionsCounted:
    targets = session.servers(servers, every)
    ran = session.run(
        "db_connections.yml",
        targets,
        session.config(),
        None,
        f"Counting database connections on {_names(targets)}",
    )
    counted = {
        name: db_connections_from_server(data)
        for name, data in ran.data_by_server(DB_KEY).items()
        if data is not None
    }
    return ConnectionsCounted(ran, connections=counted, servers=ran.outcomes())


def history(session: Session, server: str | None, app_name: str | None, last: int) -> HistoryShown:
    """The server's deploy history, oldest first: the `last` newest runs (0: all of the
    newest lines the playbook reads, 1000), of one app when `app_name` is given."""
    app = validate.app_name(app_name) if app_name else None
    if last < 0:
        raise ValidationError("--last must be 0 (every run) or more.")
    target = session.server(server)
    ran = session.run(
        "history.yml", target, session.config(), None, f"Reading the history of {target.host}"
    )
    entries = parse_history(ran.host_data(HISTORY_KEY) or [], app)
    return HistoryShown(ran, entries=entries[-last:] if last else entries)
