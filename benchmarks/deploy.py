"""Wall time of a first deploy to a provisioned server, a no-change re-run, an update and
a destroy (with its backup).

    .venv/bin/python -m benchmarks.deploy

Prints one table with each step as a ratio of the first deploy, measured in the same
run. Uses the test bed: a fresh target with SSH on 127.0.0.61 and HTTPS on
127.0.0.1:443 (so `<app>.localhost` reaches it; the port must be free), the offline
stand-in service images and the test bed's Dallinger experiment images 1 and 2, with a
throwaway HOME.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.testbed import experiment_image, researcher_home, service_images, targets

ADDRESS = "127.0.0.61"
CLI = str(Path(sys.executable).parent / "dlgr-ansible")


def timed(env: dict, *args: str) -> tuple[float, dict]:
    started = time.monotonic()
    result = subprocess.run(
        [CLI, *args, "--json"], env=env, cwd=env["HOME"], capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, json.loads(result.stdout)["hosts"][ADDRESS]


def researcher(home: Path) -> dict:
    """A new SSH key and config files in `home` (the test bed's offline images, Caddy's own
    CA); returns the environment to run the CLI with."""
    key = home / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    researcher_home.write_config(home, key, **researcher_home.stand_ins(dozzle=False))
    return dict(os.environ, HOME=str(home))


def main() -> None:
    targets.ensure_docker()
    targets.build_images()
    service_images.build_service_images()
    first_image, second_image = experiment_image.build_experiment_images()
    with tempfile.TemporaryDirectory() as home:
        env = researcher(Path(home))
        target = targets.start_target(
            "dlgr-bench-deploy",
            ADDRESS,
            (Path(home) / "id_ed25519.pub").read_text(),
            web_address="127.0.0.1",
        )
        app = ("--app", "bench", "--dns-host", "localhost")
        try:
            timed(env, "servers", "add", "--host", ADDRESS, "--user", "dallinger")
            timed(env, "provision", "--dns-host", "localhost")
            rows = [
                (
                    "deploy, first (server provisioned)",
                    *timed(env, "deploy", *app, "--image", first_image),
                ),
                (
                    "deploy --update, nothing changed",
                    *timed(env, "deploy", *app, "--image", first_image, "--update"),
                ),
                (
                    "deploy --update, new image",
                    *timed(env, "deploy", *app, "--image", second_image, "--update"),
                ),
                ("destroy, after a full backup", *timed(env, "destroy", "--app", "bench", "--yes")),
            ]
        finally:
            targets.stop_target(target)
    first = rows[0][1]
    print(f"{'step':36} {'seconds':>8} {'ratio':>7} {'changed':>8}")
    for name, seconds, stats in rows:
        print(f"{name:36} {seconds:8.1f} {seconds / first:7.2f} {stats['changed']:8d}")


if __name__ == "__main__":
    main()
