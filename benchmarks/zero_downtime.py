"""Participants' failed requests while an app is updated.

    .venv/bin/python -m benchmarks.zero_downtime [--rate 20]

A steady stream of participant requests through Caddy (tests/testbed/participant_load:
the ad and a new participant, in turn, `--rate` per second, each on a new connection)
runs during each step; a request fails on no answer or a 5xx. The baseline, in the
same run, is what `dallinger docker-ssh --update` (and this tool before it switched)
does to the web: compose recreates it in place. Then our updates: a new image (the
image-only path), a changed setting (the full converge), nothing changed, an image whose
web exits at start (rolled back), and a `rollback` to the release before.

Uses the test bed as benchmarks.deploy does: a fresh target with SSH on 127.0.0.62 and
HTTPS on 127.0.0.1:443 (the port must be free), the offline service images and the
Dallinger experiment images 1, 2 and broken, with a throwaway HOME.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.deploy import researcher
from tests.testbed import experiment_image, service_images, targets
from tests.testbed.participant_load import ParticipantLoad

ADDRESS = "127.0.0.62"
APP = "bench"
CLI = str(Path(sys.executable).parent / "dlgr-ansible")
SETTLE = 2.0  # seconds of load before and after each step


def run(env: dict, *args: str, ok: bool = True) -> None:
    result = subprocess.run([CLI, *args], env=env, cwd=env["HOME"], capture_output=True, text=True)
    if (result.returncode == 0) != ok:
        sys.exit(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")


def measured(rate: float, context, step) -> tuple[float, ParticipantLoad]:
    with ParticipantLoad(f"{APP}.localhost", context, rate=rate) as load:
        time.sleep(SETTLE)
        started = time.monotonic()
        step()
        seconds = time.monotonic() - started
        time.sleep(SETTLE)
    return seconds, load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zero_downtime")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    rate = parser.parse_args(argv).rate
    targets.ensure_docker()
    targets.build_images()
    service_images.build_service_images()
    first, second = experiment_image.build_experiment_images()
    broken = experiment_image.build_broken_image()
    with tempfile.TemporaryDirectory() as home:
        env = researcher(Path(home))
        key = Path(home) / "id_ed25519.pub"
        target = targets.start_target(
            "dlgr-bench-zero-downtime", ADDRESS, key.read_text(), web_address="127.0.0.1"
        )
        app = ("deploy", "--app", APP, "--dns-host", "localhost")
        try:
            run(env, "servers", "add", "--host", ADDRESS, "--user", "dallinger")
            run(env, *app, "--image", first)
            context = targets.caddy_tls(target)
            in_place = (
                "runuser -l dallinger -c 'cd ~/dallinger/bench && "
                "docker compose up --detach --force-recreate --no-deps web worker_1'"
            )
            steps = [
                (
                    "baseline: compose recreates web in place",
                    lambda: targets.exec_in(target, "sh", "-c", in_place, check=True),
                ),
                ("--update, new image", lambda: run(env, *app, "--update", "--image", second)),
                (
                    "--update, a setting changed",
                    lambda: run(env, *app, "--update", "--image", second, "-c", "bench", "1"),
                ),
                (
                    "--update, nothing changed",
                    lambda: run(env, *app, "--update", "--image", second, "-c", "bench", "1"),
                ),
                (
                    "--update, web exits at start",
                    lambda: run(env, *app, "--update", "--image", broken, ok=False),
                ),
                ("rollback", lambda: run(env, "rollback", "--app", APP)),
            ]
            rows = [(name, *measured(rate, context, step)) for name, step in steps]
        finally:
            targets.stop_target(target)
    print(f"participant requests at {rate:g}/s, {SETTLE:g} s before and after each step")
    print(f"{'step':42} {'seconds':>8} {'failed/total':>13}  first failures")
    for name, seconds, load in rows:
        failed, _, shown = load.summary().partition(" ")
        print(f"{name:42} {seconds:8.1f} {failed:>13}  {shown}")


if __name__ == "__main__":
    main()
