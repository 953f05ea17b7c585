"""Wall time of `servers add` + a first `provision` of a fresh target, and of a second run.

    .venv/bin/python -m benchmarks.provision

Prints one table; the second run is reported as a ratio of the first, measured in the same
run. Uses the test bed (a fresh systemd + sshd target on 127.0.0.60) and the offline
stand-in images, with a throwaway HOME so nothing of yours is touched.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.testbed import researcher_home, service_images, targets

ADDRESS = "127.0.0.60"
CLI = str(Path(sys.executable).parent / "dlgr-ansible")


def timed(env: dict, *args: str) -> tuple[float, dict]:
    started = time.monotonic()
    result = subprocess.run([CLI, *args, "--json"], env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, json.loads(result.stdout)["hosts"][ADDRESS]


def main() -> None:
    targets.ensure_docker()
    targets.build_images()
    service_images.build_service_images()
    with tempfile.TemporaryDirectory() as home:
        key = Path(home) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        stack = researcher_home.stand_ins(dozzle=False)
        researcher_home.write_config(
            Path(home),
            key,
            **{
                k: v
                for k, v in stack.items()
                if k not in ("docker_redis_image", "docker_pgbouncer_image")
            },
        )
        env = dict(os.environ, HOME=home)
        target = targets.start_target(
            "dlgr-bench-provision", ADDRESS, key.with_suffix(".pub").read_text()
        )
        try:
            rows = [
                (
                    "servers add (installs Docker)",
                    *timed(env, "servers", "add", "--host", ADDRESS, "--user", "dallinger"),
                ),
                ("provision, first run", *timed(env, "provision")),
                ("provision, second run", *timed(env, "provision")),
            ]
        finally:
            targets.stop_target(target)
    first = rows[1][1]
    print(f"{'step':32} {'seconds':>8} {'ratio':>7} {'changed':>8}")
    for name, seconds, stats in rows:
        print(f"{name:32} {seconds:8.1f} {seconds / first:7.2f} {stats['changed']:8d}")


if __name__ == "__main__":
    main()
