"""Room for experiments on this server, as JSON on stdout: memory (total, available),
CPUs, the disk where Docker keeps its data (free, total) and the compose projects that
run, the shared stack's (argv[1]) left out. Read-only; needs nothing but Python 3 and
the docker command, run as root when this user cannot (an answer without a Docker that
answers says so: "docker" false).

    python3 capacity.py STACK_PROJECT [APP COMPOSE_FILE]

With APP: whether that app exists already (its COMPOSE_FILE does), and it is left out
of the projects that run.
"""

from __future__ import annotations

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
    """docker's output, as this user or else as root (passwordless sudo, which this tool
    needs anyway): a user not in the docker group yet must not make running apps look
    like none. None when Docker is missing or answers neither."""
    if shutil.which("docker") is None:
        return None
    for become in ([], ["sudo", "-n"]):
        try:
            done = subprocess.run(
                [*become, "docker", *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return done.stdout
    return None


def data_root() -> str:
    """Where Docker keeps its data: daemon.json's data-root, else Docker's default (read
    here, not asked of the daemon: `docker info` takes most of a second)."""
    try:
        with open("/etc/docker/daemon.json", encoding="utf-8") as settings:
            return json.load(settings).get("data-root") or "/var/lib/docker"
    except (OSError, ValueError, AttributeError):
        return "/var/lib/docker"


memory = meminfo()
projects = docker(
    "ps",
    "--filter",
    "label=com.docker.compose.project",
    "--format",
    '{{.Label "com.docker.compose.project"}}',
)
root = data_root() if projects is not None else ""
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
