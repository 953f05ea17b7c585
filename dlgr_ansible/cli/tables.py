"""The tables the server views print on stdout, and the line of a deploy's phases."""

from rich.table import Table
from rich.text import Text

from dlgr_ansible.phases import Phase
from dlgr_ansible.server_apps import RUNNING, AppInfo


def apps_table(apps: list[AppInfo]) -> Table:
    table = Table("app", "state", "url", "image")
    for app in apps:
        style = "green" if app.state == RUNNING else "red"
        table.add_row(app.name, Text(app.state, style=style), app.url, app.image)
    return table


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


def stats_table(rows: list[dict]) -> Table:
    table = Table("container", "CPU %", "memory use / limit", "mem %", "net I/O", "block I/O")
    for row in rows:
        table.add_row(
            row["name"],
            row["cpu"],
            row["memory"],
            row["memory_percent"],
            row["net_io"],
            row["block_io"],
        )
    return table


def db_connections_table(report: dict) -> Table:
    table = Table("database", "connections")
    for name, count in report["databases"].items():
        table.add_row(name, str(count))
    table.add_section()
    table.add_row("total", f"{report['total']} of {report['max_connections']} (max_connections)")
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
