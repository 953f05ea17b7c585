"""Several servers in one command: the wall time of a read-only view of 4 servers as a
ratio of the same view of 1 server, measured in the same run (goal: at most 1.5x).

    .venv/bin/python -m benchmarks.fleet [--repeat N]

Four fresh test bed targets (systemd + sshd, SSH on 127.0.0.71-74, no web ports), saved
in a throwaway HOME's hosts store as `dallinger docker-ssh` saves them. Each view runs
with `--server` of the first target, then with `--all`; `--repeat` times each (3 by
default) and prints medians. The targets are bare (no Docker, no apps): `servers check`,
`apps` and `capacity` answer there, and what is measured is the fan-out itself: one
ansible-playbook over four SSH connections against one over one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.deploy import researcher
from tests.testbed import targets

ADDRESSES = [f"127.0.0.{n}" for n in range(71, 75)]
CLI = str(Path(sys.executable).parent / "dlgr-ansible")
VIEWS = (("servers", "check"), ("apps",), ("capacity",))
GOAL = 1.5


def timed(env: dict, *args: str) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [CLI, *args, "--json"], env=env, cwd=env["HOME"], capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    servers = json.loads(result.stdout)["servers"]
    if not all(each["ok"] for each in servers.values()):
        sys.exit(f"{' '.join(args)}: a server failed: {servers}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each view (median)")
    repeat = parser.parse_args(argv).repeat
    targets.ensure_docker()
    targets.build_images()
    with tempfile.TemporaryDirectory() as home:
        env = researcher(Path(home))
        key = Path(home) / "id_ed25519"
        hosts = Path(home) / ".dallinger" / "docker-ssh" / "hosts"
        hosts.mkdir(parents=True)
        started = []
        try:
            for address in ADDRESSES:
                name = f"dlgr-bench-fleet-{address.rsplit('.', 1)[1]}"
                started.append(
                    targets.start_target(
                        name, address, key.with_suffix(".pub").read_text(), publish_web=False
                    )
                )
                (hosts / address).write_text(json.dumps({"host": address, "user": "dallinger"}))
            # Host keys trusted and the first login's costs paid before anything is timed.
            timed(env, "servers", "check", "--all")
            rows = []
            for view in VIEWS:
                one = [timed(env, *view, "--server", ADDRESSES[0]) for _ in range(repeat)]
                four = [timed(env, *view, "--all") for _ in range(repeat)]
                rows.append((" ".join(view), statistics.median(one), statistics.median(four)))
        finally:
            for target in started:
                targets.stop_target(target)
    print(f"A view of 1 server and of {len(ADDRESSES)} in one run, median of {repeat}:")
    print(f"| view | 1 server | {len(ADDRESSES)} servers | ratio | goal |")
    print("|---|---|---|---|---|")
    for view, one, four in rows:
        print(f"| {view} | {one:.1f} s | {four:.1f} s | {four / one:.2f} | <= {GOAL} |")


if __name__ == "__main__":
    main()
