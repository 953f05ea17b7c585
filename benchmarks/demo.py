"""Wall time of `make demo`'s script: a first run (rehearsal server from scratch) and a re-run.

    .venv/bin/python -m benchmarks.demo [--cold]

Runs examples/demo.py twice with a throwaway HOME, its own rehearsal container and free
ports (a rehearsal server of yours is left alone), then tears down. Prints both times
and the re-run as a ratio of the first. Images already built on this machine are
reused, as on a second `make demo`; `--cold` first removes the ones the demo builds
itself (base images, rehearsal server, sample experiment) to show a first-ever run.
The stand-in service images (local_server/service-images/, built when Docker Hub is
out of reach) are reused either way.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlgr_ansible import container_server, local_server
from tests.testbed import targets

REPO = Path(__file__).resolve().parents[1]
CONTAINER = "dlgr-bench-demo"
DEMO_IMAGES = (
    "dlgr-demo/hello:1",
    local_server.IMAGE,
    local_server.OFFLINE_BASE,
    "dlgr-ansible/debian-base:bookworm",
)


def timed_demo(env: dict) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "examples/demo.py"], env=env, cwd=REPO, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0 or "HTTP 200" not in result.stdout:
        sys.exit(f"the demo failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo")
    parser.add_argument("--cold", action="store_true", help="remove the demo's own images first")
    args = parser.parse_args()
    targets.ensure_docker()
    if args.cold:
        for image in DEMO_IMAGES:
            container_server.docker("rmi", image, check=False)
    with tempfile.TemporaryDirectory() as home:
        env = dict(
            os.environ,
            HOME=home,
            DLGR_LOCAL_CONTAINER=CONTAINER,
            DLGR_LOCAL_SSH_PORT=str(targets.free_port()),
            DLGR_LOCAL_HTTP_PORT=str(targets.free_port()),
            DLGR_LOCAL_HTTPS_PORT=str(targets.free_port()),
        )
        try:
            first = timed_demo(env)
            again = timed_demo(env)
        finally:
            subprocess.run(
                [str(Path(sys.executable).parent / "dlgr-ansible"), "local-server", "down"],
                env=env,
                capture_output=True,
            )
    print(f"{'run':<40} {'seconds':>8} {'ratio':>6}")
    label = "first run" + (" (demo images removed)" if args.cold else "")
    print(f"{label:<40} {first:8.1f} {1:6.2f}")
    print(f"{'second run (app updated)':<40} {again:8.1f} {again / first:6.2f}")


if __name__ == "__main__":
    main()
