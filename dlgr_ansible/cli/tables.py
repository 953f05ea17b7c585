"""The tables the server views print on stdout, and the line of a deploy's phases."""

from rich.table import Table
from rich.text import Text

from dlgr_ansible.capacity import Room, gigabytes
from dlgr_ansible.fleet import ServerOutcome
from dlgr_ansible.phases import Phase
from dlgr_ansible.server_apps import RUNNING, AppInfo


def apps_table(apps: list[AppInfo], servers: list[ServerOutcome] | None = None) -> Table:
    """`servers`: several servers were asked, so a server column (and a row for each one
    that failed or has no apps)."""
    columns = ("app", "state", "url", "image")
    table = Table("server", *columns) if servers else Table(*columns)
    for app in apps:
        style = "green" if app.state == RUNNING else "red"
        row = (app.name, Text(app.state, style=style), app.url, app.image)
        table.add_row(*((app.server, *row) if servers else row))
    _rows_of_the_rest(table, servers, {app.server for app in apps}, "no apps")
    return table


def _rows_of_the_rest(
    table: Table, servers: list[ServerOutcome] | None, shown: set[str], nothing: str
) -> None:
    """A row for each server that has none in `table`: that it failed or could not be
    reached (the messages follow the table), or that it has `nothing`."""
    for each in servers or []:
        if each.ok and each.server in shown:
            continue
        said = Text(f"({nothing})", style="dim") if each.ok else Text(each.state, style="red")
        table.add_row(each.server, said, *[""] * (len(table.columns) - 2))


def releases_table(rows: list[dict]) -> Table:
    table = Table("release", "time", "image", "image id", "note", "")
    for row in rows:
        table.add_row(
            row["id"],
            row["time"],
            row["image"],
            row["image_id"].removeprefix("sha256:")[:12],
            row["note"],
            Text("running", style="green") if row["current"] else "",
        )
    return table


_RESULT_STYLES = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}


def history_table(rows: list[dict]) -> Table:
    table = Table("time (UTC)", "who", "command", "app", "image", "result", "took")
    for row in rows:
        who = f"{row['user']}@{row['machine']}" if row["user"] or row["machine"] else ""
        took = f"{row['duration']}s" if row["duration"] != "" else ""
        table.add_row(
            row["time"].replace("T", " ").removesuffix("Z"),
            who,
            row["command"],
            row["app"],
            row["image"],
            Text(row["result"], style=_RESULT_STYLES.get(row["result"], "")),
            took,
        )
    return table


def stats_table(rows: list[dict], servers: list[ServerOutcome] | None = None) -> Table:
    columns = ("container", "CPU %", "memory use / limit", "mem %", "net I/O", "block I/O")
    table = Table("server", *columns) if servers else Table(*columns)
    for row in rows:
        cells = (
            row["name"],
            row["cpu"],
            row["memory"],
            row["memory_percent"],
            row["net_io"],
            row["block_io"],
        )
        table.add_row(*((row["server"], *cells) if servers else cells))
    _rows_of_the_rest(table, servers, {row.get("server") for row in rows}, "no containers")
    return table


def db_connections_table(report: dict) -> Table:
    table = Table("database", "connections")
    for name, count in report["databases"].items():
        table.add_row(name, str(count))
    table.add_section()
    table.add_row("total", f"{report['total']} of {report['max_connections']} (max_connections)")
    return table


def db_connections_fleet_table(by_server: dict[str, dict], servers: list[ServerOutcome]) -> Table:
    """Several servers: each one's databases, then its total, in a section of its own."""
    table = Table("server", "database", "connections")
    for name, report in by_server.items():
        for database, count in report["databases"].items():
            table.add_row(name, database, str(count))
        limit = f"{report['total']} of {report['max_connections']} (max_connections)"
        table.add_row(name, Text("total", style="bold"), limit, end_section=True)
    _rows_of_the_rest(table, servers, set(by_server), "no databases")
    return table


def capacity_table(rooms: list[Room], servers: list[ServerOutcome]) -> Table:
    table = Table(
        "server",
        "memory available / total",
        "CPUs",
        "Docker's disk free",
        "apps running",
        "room for",
    )
    for room in rooms:
        fit = room.apps_that_fit
        table.add_row(
            room.server,
            f"{gigabytes(room.memory_available)} / {gigabytes(room.memory_total)}",
            str(room.cpus),
            f"{gigabytes(room.disk_free)} of {gigabytes(room.disk_total)}"
            if room.docker
            else Text("no Docker yet", style="dim"),
            str(len(room.apps_running)),
            Text(
                f"{fit} more app{'s' if fit != 1 else ''} ({room.per_app_gb:g} GB each)",
                style="green" if fit else "red",
            ),
        )
    _rows_of_the_rest(table, servers, {room.server for room in rooms}, "no answer")
    return table


def servers_table(saved: dict) -> Table:
    table = Table("server", "user", "port", "settings")
    for name, server in saved.items():
        settings = "\n".join(f"{key} = {value}" for key, value in server.settings.items())
        table.add_row(name, server.user or "(local user name)", str(server.port), settings)
    return table


def phases_line(phases: list[Phase]) -> str:
    """`Time: build 3.1 s, start 1.9 s, ... (total 5.0 s)`, or "" when nothing was timed."""
    if not phases:
        return ""
    spent = ", ".join(f"{phase.name} {phase.seconds:.1f} s" for phase in phases)
    total = sum(phase.seconds for phase in phases)
    return f"Time: {spent} (total {total:.1f} s)"
