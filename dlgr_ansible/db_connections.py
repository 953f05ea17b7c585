"""Connections per database on a server's PostgreSQL, from what db_connections.yml hands back."""

import json

# The key db_connections.yml hands its report back under (set_stats), keyed by host.
DB_KEY = "dlgr_db_connections"


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


# A share of max_connections above which the view suggests freeing connections.
NEAR_LIMIT = 0.8


def near_limit_note(report: dict) -> str | None:
    """What to do when the server's PostgreSQL is near its connection limit, else None."""
    limit, databases = report["max_connections"], report["databases"]
    if not limit or report["total"] < NEAR_LIMIT * limit or not databases:
        return None
    busiest = max(databases, key=databases.get)
    return (
        f"PostgreSQL is near its limit ({report['total']} of {limit} connections). "
        f"`dlgr-ansible restart --app {busiest}` restarts the app with the most "
        f"({databases[busiest]}) without dropping a request; `dlgr-ansible shell --app "
        f"{busiest}` looks inside it."
    )
