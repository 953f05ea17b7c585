"""Room for experiments on this server, as JSON on stdout: memory (total, available),
CPUs, the disk where Docker keeps its data (free, total) and the compose projects that
run, the shared stack's (argv[1]) left out. Read-only; needs nothing but Python 3 and
the docker command (an answer without Docker says so).

    python3 capacity.py STACK_PROJECT [APP COMPOSE_FILE]

With APP: whether that app exists already (its COMPOSE_FILE does), and it is left out
of the projects that run.
"""

import json
import os
import shutil
import subprocess
import sys


def meminfo() -> dict:
    values = {}
    with open("/proc/meminfo", encoding="ascii") as lines:
        for line in lines:
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0]) * 1024
    return values


def docker(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


memory = meminfo()
info = docker("info") or ""
root = next(
    (line.split(":", 1)[1].strip() for line in info.splitlines() if "Docker Root Dir:" in line),
    "",
)
projects = docker(
    "ps",
    "--filter",
    "label=com.docker.compose.project",
    "--format",
    '{{.Label "com.docker.compose.project"}}',
)
disk = shutil.disk_usage(root if root and os.path.exists(root) else "/")
report = {
    "memory_total": memory.get("MemTotal", 0),
    "memory_available": memory.get("MemAvailable", memory.get("MemFree", 0)),
    "cpus": os.cpu_count() or 0,
    "docker_root": root or None,
    "disk_total": disk.total,
    "disk_free": disk.free,
    "docker": projects is not None,
    "apps_running": sorted(set((projects or "").split()) - set(sys.argv[1:3])),
}
if len(sys.argv) > 3:
    report["app_exists"] = os.path.isfile(os.path.expanduser(sys.argv[3]))
print(json.dumps(report))
