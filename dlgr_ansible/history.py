"""The server's deploy history (~/dallinger/deploys.log, see the dallinger_run role): who
runs, as the lock and the history name them, and the lines history.yml hands back."""

import getpass
import json
import socket

from dlgr_ansible import __version__

HISTORY_KEY = "dlgr_history"
FIELDS = (
    "time",
    "started",
    "user",
    "machine",
    "tool",
    "command",
    "app",
    "image",
    "image_id",
    "digests",
    "result",
    "duration",
)


def run_variables(command: str) -> dict:
    """The dallinger_run role's variables for a run of `dlgr-ansible COMMAND`: the lock's
    holder and the history line name the person, the machine and the command."""
    return {
        "dallinger_run_user": getpass.getuser(),
        "dallinger_run_machine": socket.gethostname(),
        "dallinger_run_tool": f"dlgr-ansible {__version__}",
        "dallinger_run_command": f"dlgr-ansible {command}",
    }


def parse_history(lines: list[str], app: str | None = None) -> list[dict]:
    """Oldest first, only `app`'s runs when given. A line that is not JSON (a damaged
    log) becomes a row saying so, rather than hiding that the log is damaged."""
    rows = []
    for line in lines:
        try:
            found = json.loads(line)
        except json.JSONDecodeError:
            found = None
        if not isinstance(found, dict):
            found = {"result": f"unreadable line: {line[:80]!r}"}
        row = {key: found.get(key, [] if key == "digests" else "") for key in FIELDS}
        if app is None or row["app"] == app:
            rows.append(row)
    return rows
