"""Whole-server views and chores: apps, stats, logs, database connections, Dozzle's password.

Library functions only: the variables each playbook takes, turning what a playbook
hands back (set_stats) into rows, the tables that show them, and the ssh command line
of the two streaming views (`--follow`). No click here; cli_ops is the thin layer.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

import bcrypt
from rich.table import Table
from rich.text import Text

from dlgr_ansible import local_secrets, validate
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import default_known_hosts, ssh_common_args
from dlgr_ansible.local_secrets import secret_path

UNKNOWN = "-"
RUNNING = "running"
INACTIVE = "inactive"
# What `docker ps` without --all lists, and so what Dallinger counts as running.
_UP_STATES = {"running", "restarting", "paused"}
DOZZLE_SECRET = "dozzle-password"  # noqa: S105 - the file name, not a password
DOZZLE_USER = "dallinger"

# The keys each playbook hands back with set_stats, keyed there by inventory host.
APPS_KEY = "dlgr_apps"
STATS_KEY = "dlgr_stats"
LOGS_KEY = "dlgr_logs"
DB_KEY = "dlgr_db_connections"
DOZZLE_KEY = "dlgr_dozzle"


# -- apps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppInfo:
    name: str
    state: str
    url: str
    image: str

    def to_json(self) -> dict:
        return asdict(self)


def site_url(first_line: str, https_port: int = 443) -> str:
    """The URL a Caddy site file serves, from its first line `<address>[, ...] {`.

    `https_port`: where the server's port 443 is reached from here (a rehearsal server).
    """
    address = first_line.strip().removesuffix("{").strip()
    address = address.split(",")[0].split()[0] if address else ""
    if not address or address.startswith(("(", "{", "#", "import")):
        return UNKNOWN
    if address.startswith(("http://", "https://")):
        return address if address.endswith("/") else address + "/"
    port = "" if https_port == 443 or ":" in address else f":{https_port}"
    return f"https://{address}{port}/"


def parse_containers(lines: list[str]) -> list[dict]:
    """`docker ps --all` rows of `project<TAB>service<TAB>state<TAB>image`."""
    containers = []
    for line in lines:
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0]:
            continue
        project, service, state, image = fields
        containers.append({"project": project, "service": service, "state": state, "image": image})
    return containers


def app_names(sites: list[str], compose_dirs: list[str]) -> list[str]:
    """Every app, as Dallinger finds them: a Caddy site file or a compose file under ~/dallinger.

    Names that cannot be app names (editor backups, hidden files) are left out.
    """
    names = {Path(p).name for p in sites} | {Path(p).name for p in compose_dirs}
    return sorted(n for n in names if n and not n.startswith(".") and not n.endswith("~"))


def apps_from_server(data: dict, https_port: int = 443) -> list[AppInfo]:
    """The apps.yml playbook's report for one server, running apps first."""
    # "<site file path>\t<its first line>", as awk prints them
    sites = dict(line.split("\t", 1) for line in data.get("sites") or [] if "\t" in line)
    compose_files = data.get("compose_files") or []
    compose_images = data.get("compose_images") or {}  # app -> image of its web service
    containers = parse_containers(data.get("containers") or [])
    site_lines = {Path(path).name: line for path, line in sites.items()}
    site_files = [*sites, *(data.get("site_files") or [])]  # an empty one has no first line
    names = app_names(site_files, [str(Path(p).parent) for p in compose_files])
    apps = []
    for name in names:
        own = [c for c in containers if c["project"] == name]
        running = any(c["state"] in _UP_STATES for c in own)
        web = [c for c in own if c["service"] == "web"]
        web_up = [c for c in web if c["state"] in _UP_STATES]
        image = (web_up or web or [{}])[0].get("image") or compose_images.get(name) or UNKNOWN
        line = site_lines.get(name)
        apps.append(
            AppInfo(
                name=name,
                state=RUNNING if running else INACTIVE,
                url=site_url(line, https_port) if line is not None else UNKNOWN,
                image=str(image),
            )
        )
    return sorted(apps, key=lambda app: (app.state != RUNNING, app.name))


def apps_table(apps: list[AppInfo]) -> Table:
    table = Table("app", "state", "url", "image")
    for app in apps:
        style = "green" if app.state == RUNNING else "red"
        table.add_row(app.name, Text(app.state, style=style), app.url, app.image)
    return table


# -- stats ------------------------------------------------------------------------------

STATS_COLUMNS = (
    ("name", "Name"),
    ("cpu", "CPUPerc"),
    ("memory", "MemUsage"),
    ("memory_percent", "MemPerc"),
    ("net_io", "NetIO"),
    ("block_io", "BlockIO"),
    ("pids", "PIDs"),
)


def parse_stats(lines: list[str]) -> list[dict]:
    """`docker stats --no-stream --format '{{json .}}'` lines, as rows sorted by name."""
    rows = []
    for line in lines:
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if isinstance(raw, dict):
            rows.append({ours: str(raw.get(theirs, "")) for ours, theirs in STATS_COLUMNS})
    return sorted(rows, key=lambda row: row["name"])


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


# -- logs -------------------------------------------------------------------------------


def logs_variables(app: str, service: str, tail: int | None) -> dict:
    variables = {"dlgr_app": validate.app_name(app), "dlgr_service": validate.service_name(service)}
    if validate.tail_lines(tail) is not None:
        variables["dlgr_tail"] = tail
    return variables


def no_such_app(app: str, server: str) -> DlgrError:
    return DlgrError(f"no app {app} on {server}; see `dlgr-ansible apps`")


def logs_command(app: str, service: str, tail: int | None, follow: bool) -> list[str]:
    """The compose command the logs playbook runs, for the ssh path (relative to $HOME)."""
    argv = ["docker", "compose", "-f", f"dallinger/{app}/docker-compose.yml", "logs", "--no-color"]
    if follow:
        argv.append("--follow")
    if tail is not None:
        argv += ["--tail", str(tail)]
    return [*argv, service]


APP_MISSING_EXIT = 3


def logs_follow_command(app: str, service: str, tail: int | None) -> list[str]:
    """Checks the app exists (exit 3 when not), then follows its logs."""
    check = ["test", "-e", f"dallinger/{app}/docker-compose.yml"]
    return [
        "sh",
        "-c",
        f'{shlex.join(check)} || exit {APP_MISSING_EXIT}; exec "$@"',
        "sh",
        *logs_command(app, service, tail, follow=True),
    ]


# -- streaming over ssh -----------------------------------------------------------------


def ssh_argv(
    server: Server,
    key_file: Path,
    remote: list[str],
    tty: bool = False,
    known_hosts: Path | None = None,
) -> list[str]:
    """ssh with exactly the options the rendered inventory gives Ansible, then `remote`.

    The remote command is one shell-quoted string: ssh hands it to the user's login
    shell, so every word arrives as one argument whatever it contains.
    """
    argv = ["ssh", *shlex.split(ssh_common_args(known_hosts or default_known_hosts()))]
    argv += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]  # never ask for a password
    argv += ["-i", str(key_file), "-p", str(server.port)]
    if tty:
        argv.append("-t")  # Ctrl-C then reaches the remote command, not just ssh
    if server.user:
        argv += ["-l", server.user]
    return [*argv, "--", server.ssh_host, shlex.join(remote)]


STATS_FOLLOW_COMMAND = ["docker", "stats"]


# -- database connections -----------------------------------------------------------------


def db_connections_from_server(data: dict) -> dict:
    """{'max_connections': N, 'total': N, 'databases': {name: count}} from db_connections.yml."""
    raw = data.get("report") or {}
    if isinstance(raw, str):
        raw = json.loads(raw)
    databases = {str(k): int(v) for k, v in sorted((raw.get("databases") or {}).items())}
    return {
        "max_connections": int(raw.get("max_connections") or 0),
        "total": sum(databases.values()),
        "databases": databases,
    }


def db_connections_table(report: dict) -> Table:
    table = Table("database", "connections")
    for name, count in report["databases"].items():
        table.add_row(name, str(count))
    table.add_section()
    table.add_row("total", f"{report['total']} of {report['max_connections']} (max_connections)")
    return table


# -- Dozzle's password ------------------------------------------------------------------


@dataclass(frozen=True)
class DozzlePassword:
    """A new Dozzle password: its hash goes to the server, the password stays here."""

    password: str
    password_hash: str

    @classmethod
    def of(cls, password: str) -> DozzlePassword:
        validate.dozzle_password(password)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
        return cls(password, hashed)

    def variables(self) -> dict:
        # The password is only for the check on this machine (is the server's hash already
        # one of it?); the playbook never sends it to the server.
        return {
            "dlgr_dozzle_password": self.password,
            "dlgr_dozzle_password_hash": self.password_hash,
        }


def dozzle_secret_path(host: str) -> Path:
    return secret_path(host, DOZZLE_SECRET)


def read_secret(host: str) -> str | None:
    path = dozzle_secret_path(host)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def save_secret(host: str, value: str | None) -> Path:
    """Write (or with None remove) the locally kept Dozzle password, 0600, atomically."""
    path = dozzle_secret_path(host)
    if value is None:
        path.unlink(missing_ok=True)
        return path
    return local_secrets.write(host, DOZZLE_SECRET, value)
