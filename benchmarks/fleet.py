"""Several servers in one command: the wall time of a command on 4 servers as a ratio
of the same command on 1 server, measured in the same run (goal: at most 1.5x).

    .venv/bin/python -m benchmarks.fleet [--repeat N]

Five fresh test bed targets (systemd + sshd, SSH on 127.0.0.71-75, no web ports), saved
in a throwaway HOME's hosts store as `dallinger docker-ssh` saves them: the first is
the one server, the other four the fleet. In this order:

1. read-only views of the bare targets (no Docker, no apps), each with `--server` of
   the one, then with `--server` of each of the four; `--repeat` times each (3 by
   default), medians. What is measured is the fan-out itself;
2. `provision` of the one fresh server, then of the four fresh servers in one run
   (Debian's Docker packages, the stack's images sent from here), once each;
3. `apps` and `capacity` again, now that each server runs the stack and one app (a
   compose project made by hand in deploy's layout).

The targets share this machine's cores with Ansible, so it also prints the CPU time the
whole machine spent on each command (/proc/stat): four servers' work cannot take less
wall time than their CPU time spread over all cores, whatever the fan-out does, and the
`floor` column is that bound as a ratio to the one server's time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.deploy import researcher
from tests.testbed import service_images, targets

ONE = "127.0.0.71"
FOUR = [f"127.0.0.{n}" for n in range(72, 76)]
CLI = str(Path(sys.executable).parent / "dlgr-ansible")
VIEWS = (("servers", "check"), ("apps",), ("capacity",))
GOAL = 1.5
APP = """\
name: fleetapp
services:
  web:
    image: {image}
    environment:
      POSTGRES_PASSWORD: bench
    networks:
      dallinger:
        aliases: [fleetapp_web]
networks:
  dallinger:
    external: true
"""


def busy_seconds() -> float:
    """CPU time the machine has spent so far, all cores, idle and I/O wait left out."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(env: dict, *args: str) -> tuple[float, float]:
    """The command's wall time and the machine's CPU time during it."""
    started, cpu = time.monotonic(), busy_seconds()
    result = subprocess.run(
        [CLI, *args, "--json"], env=env, cwd=env["HOME"], capture_output=True, text=True
    )
    elapsed, cpu = time.monotonic() - started, busy_seconds() - cpu
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    servers = json.loads(result.stdout)["servers"]
    if not all(each["ok"] for each in servers.values()):
        sys.exit(f"{' '.join(args)}: a server failed: {servers}")
    return elapsed, cpu


def each(addresses: list[str]) -> list[str]:
    return [option for address in addresses for option in ("--server", address)]


def median_run(env: dict, command: tuple[str, ...], addresses: list[str], repeat: int):
    """Median wall time and median CPU time of `repeat` runs."""
    runs = [timed(env, *command, *each(addresses)) for _ in range(repeat)]
    return tuple(statistics.median(column) for column in zip(*runs, strict=True))


def one_and_four(env: dict, command: tuple[str, ...], repeat: int) -> tuple:
    """(wall, cpu) of the one server, then of the four."""
    return median_run(env, command, [ONE], repeat), median_run(env, command, FOUR, repeat)


def run_an_app(target: targets.Target) -> None:
    """A compose project in deploy's layout, as the integration tests make one."""
    compose = APP.format(image=service_images.POSTGRES_IMAGE)
    for command in (
        "mkdir -p dallinger/fleetapp && cat > dallinger/fleetapp/docker-compose.yml",
        "docker compose -f dallinger/fleetapp/docker-compose.yml up -d --wait",
    ):
        targets.exec_in(
            target, "runuser", "-l", "dallinger", "-c", command, input=compose, check=True
        )


def measure(env: dict, home: Path, repeat: int) -> list[tuple[str, float, float]]:
    hosts = home / ".dallinger" / "docker-ssh" / "hosts"
    hosts.mkdir(parents=True)
    started = []
    try:
        for address in (ONE, *FOUR):
            name = f"dlgr-bench-fleet-{address.rsplit('.', 1)[1]}"
            key = (home / "id_ed25519.pub").read_text()
            started.append(targets.start_target(name, address, key, publish_web=False))
            (hosts / address).write_text(json.dumps({"host": address, "user": "dallinger"}))
        # Host keys trusted and the first login's costs paid before anything is timed.
        timed(env, "servers", "check", "--all")
        rows = [(f"{' '.join(view)}, bare", *one_and_four(env, view, repeat)) for view in VIEWS]
        rows.append(("provision, fresh servers", *one_and_four(env, ("provision",), 1)))
        for target in started:
            run_an_app(target)
        for view in (("apps",), ("capacity",)):
            rows.append((f"{' '.join(view)}, an app each", *one_and_four(env, view, repeat)))
        return rows
    finally:
        for target in started:
            targets.stop_target(target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each view (median)")
    repeat = parser.parse_args(argv).repeat
    targets.ensure_docker()
    targets.build_images()
    service_images.build_service_images()
    with tempfile.TemporaryDirectory() as home:
        rows = measure(researcher(Path(home)), Path(home), repeat)
    cores = os.cpu_count() or 1
    print(f"A command on 1 server and on {len(FOUR)} in one run (views: median of {repeat});")
    print(f"CPU: the machine's CPU time during it, all {cores} cores; floor: the ratio that")
    print(f"the {len(FOUR)} servers' CPU time allows on {cores} cores.")
    print(
        f"| command | 1 server | {len(FOUR)} servers | ratio | CPU 1 / {len(FOUR)} | floor | goal |"
    )
    print("|---|---|---|---|---|---|---|")
    for command, (one, cpu_one), (four, cpu_four) in rows:
        floor = cpu_four / cores / one
        print(
            f"| {command} | {one:.1f} s | {four:.1f} s | {four / one:.2f} | "
            f"{cpu_one:.1f} s / {cpu_four:.1f} s | {floor:.2f} | <= {GOAL} |"
        )


if __name__ == "__main__":
    main()
