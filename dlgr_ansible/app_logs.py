"""An app's logs and its containers over ssh: the variables of logs.yml, and the commands
`logs --follow`, `shell` and `psql` run on the server."""

import shlex

from dlgr_ansible import validate
from dlgr_ansible.errors import DlgrError

# The key logs.yml hands the text back under (set_stats), keyed there by inventory host.
LOGS_KEY = "dlgr_logs"
# The exit code of the follow command when the app has no compose file.
APP_MISSING_EXIT = 3
# The shared stack's PostgreSQL container (dallinger_common_pg_container).
PG_CONTAINER = "dallinger-postgresql-1"


def logs_variables(app: str, service: str, tail: int | None) -> dict:
    """logs.yml's variables, every value checked before anything connects."""
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


def logs_follow_command(app: str, service: str, tail: int | None) -> list[str]:
    """Checks the app exists (exit 3 when not), then follows its logs."""
    return if_app_exists(app, logs_command(app, service, tail, follow=True))


def if_app_exists(app: str, argv: list[str]) -> list[str]:
    """`argv` run on the server (from $HOME) once the app's compose file is found; exit
    APP_MISSING_EXIT when it is not."""
    check = ["test", "-e", f"dallinger/{app}/docker-compose.yml"]
    return ["sh", "-c", f'{shlex.join(check)} || exit {APP_MISSING_EXIT}; exec "$@"', "sh", *argv]


def shell_command(app: str, service: str, command: list[str], tty: bool) -> list[str]:
    """`docker compose exec` of `command` (default: bash, else sh) in one of the app's
    services; without a terminal, without a pseudo-terminal (compose would refuse)."""
    argv = ["docker", "compose", "-f", f"dallinger/{app}/docker-compose.yml", "exec"]
    argv += [] if tty else ["-T"]
    login = "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"
    # After an update, the web it replaced finishes its requests for seconds, holding the
    # server's hand-over lock (roles/dallinger_app/files/switch-web.sh): compose could pick
    # it. Not for ever: a shell is wanted most when something is stuck.
    settled = shlex.join(["flock", "-w", "120", "dallinger/.hand-over.lock", "true"])
    inside = [*argv, service, *(command or ["sh", "-c", login])]
    return if_app_exists(app, ["sh", "-c", f'{settled}; exec "$@"', "sh", *inside])


def psql_command(app: str, arguments: list[str], tty: bool) -> list[str]:
    """psql in the shared PostgreSQL container, on the app's own database as the app's own
    login role, as the app itself logs in. The local socket inside the container needs no
    password, so none is sent or shown."""
    argv = ["docker", "exec", "-i", *(["-t"] if tty else []), PG_CONTAINER]
    return if_app_exists(app, [*argv, "psql", "-U", app, "-d", app, *arguments])
