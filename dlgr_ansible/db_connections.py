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
