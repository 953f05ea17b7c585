"""CPU, memory and I/O of a server's containers, from `docker stats` as stats.yml runs it."""

import json

# The key stats.yml hands its lines back under (set_stats), keyed there by inventory host.
STATS_KEY = "dlgr_stats"
# `--follow` streams this over ssh instead: a playbook returns only when its command ends.
FOLLOW_COMMAND = ["docker", "stats"]

# Our column name -> the field of `docker stats --format '{{json .}}'`.
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
