"""An app's releases on its server (~/dallinger/<app>/releases/, see the dallinger_app
role): what releases.yml hands back, read into rows."""

import json

RELEASES_KEY = "dlgr_releases"
ROLLBACK_KEY = "dlgr_rollback"
# What dallinger_app's restart tasks hand back (set_stats), keyed by host.
RESTART_KEY = "dlgr_restart"
FIELDS = ("id", "time", "image", "image_id", "digests", "note")


def parse_releases(lines: list[str]) -> list[dict]:
    """Oldest first; each line is "true|false <release.json>", true for the files the app
    runs from now. A line that is not one (a damaged file) becomes a row saying so."""
    rows = []
    for line in lines:
        now, _, text = line.partition(" ")
        try:
            found = json.loads(text)
        except json.JSONDecodeError:
            found = {"note": f"unreadable release.json: {text[:80]!r}"}
        if not isinstance(found, dict):
            found = {"note": "unreadable release.json"}
        row = {key: found.get(key, [] if key == "digests" else "") for key in FIELDS}
        row["current"] = now == "true"
        rows.append(row)
    return rows
