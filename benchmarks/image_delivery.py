"""Bytes the server receives, and wall time, for `images push` against `docker save | ssh
docker load`, both measured in the same run.

    .venv/bin/python -m benchmarks.image_delivery

Uses the test bed: two fresh targets with Docker (SSH on 127.0.0.71 for `images push`,
127.0.0.72 for the baseline), and two images built here on the test bed's Dallinger
experiment image (some 400 MB): each adds a different random 1 MB file on top, so the
update changes exactly one layer. Bytes are what the target's network interface
received (`/sys/class/net/eth0/statistics/rx_bytes`), so SSH and Ansible overhead count.

Steps: (a) first push to a server without the image, (b) push of the updated image,
(c) push when nothing changed. For (c), the SSH handshake (`ssh server true`) is timed
too: the issue's target is the push's own work beyond it.
"""

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tests.testbed import experiment_image, researcher_home, targets

ADDRESSES = ("127.0.0.71", "127.0.0.72")
IMAGE = "dlgr-bench/delivery"
CHANGE = 1_000_000
CLI = str(Path(sys.executable).parent / "dlgr-ansible")


def received(target) -> int:
    path = "/sys/class/net/eth0/statistics/rx_bytes"
    return int(targets.exec_in(target, "cat", path, check=True).stdout)


def measured(target, command) -> tuple[int, float, object]:
    """Bytes received by `target` and seconds taken while `command()` runs."""
    before, started = received(target), time.monotonic()
    outcome = command()
    return received(target) - before, time.monotonic() - started, outcome


def build_images(base: str) -> tuple[str, str]:
    names = (f"{IMAGE}:1", f"{IMAGE}:2")
    with tempfile.TemporaryDirectory() as context:
        Path(context, "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY change /\n")
        for name in names:
            Path(context, "change").write_bytes(os.urandom(CHANGE))
            targets.docker_build(Path(context), base, f"--tag={name}")
    return names


def top_layer_gzip_size(image: str) -> int:
    """The changed layer as the push sends it: its tar, gzip'd at the same level."""
    saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        top = archive.extractfile(manifest[0]["Layers"][-1]).read()
    return len(gzip.compress(top, compresslevel=6, mtime=0))


def cli(env: dict, *args: str) -> dict:
    result = subprocess.run(
        [CLI, *args, "--json"], env=env, cwd=env["HOME"], capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def ssh(target, key: Path, command: str, stdin=None) -> None:
    argv = [*targets.ssh_argv(target, "dallinger", key), command]
    subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, check=True)


def baseline(target, key: Path, image: str) -> None:
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    ssh(target, key, "docker load", stdin=save.stdout)
    save.stdout.close()
    if save.wait() != 0:
        sys.exit(f"docker save {image} failed")


def main() -> None:
    targets.ensure_docker()
    targets.build_images()
    first, second = build_images(experiment_image.build_experiment_images()[0])
    change = top_layer_gzip_size(second)
    with tempfile.TemporaryDirectory() as home:
        key = Path(home) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        researcher_home.write_config(Path(home), key, docker_engine_source="distribution")
        env = dict(os.environ, HOME=home)
        ours, theirs = (
            targets.start_target(
                f"dlgr-bench-delivery-{n}",
                address,
                key.with_suffix(".pub").read_text(),
                publish_web=False,
            )
            for n, address in enumerate(ADDRESSES)
        )
        try:
            for target in (ours, theirs):
                cli(env, "servers", "add", "--host", target.address, "--user", "dallinger")
            rows = {}
            for step, image in (("a", first), ("b", second), ("c", second)):
                rows[step] = measured(
                    ours,
                    lambda image=image: cli(env, "images", "push", "--server", ours.address, image),
                )
            base = {
                step: measured(theirs, lambda image=image: baseline(theirs, key, image))
                for step, image in (("a", first), ("b", second))
            }
            handshake = measured(ours, lambda: ssh(ours, key, "true"))[1]
        finally:
            for target in (ours, theirs):
                targets.stop_target(target)
    subprocess.run(["docker", "rmi", first, second], capture_output=True)
    report(rows, base, change, handshake, ours.address)


def report(rows: dict, base: dict, change: int, handshake: float, address: str) -> None:
    names = {"a": "(a) first push", "b": "(b) one layer changed", "c": "(c) nothing changed"}
    print(f"changed layer, gzip'd: {change:,} bytes; SSH handshake: {handshake:.2f} s")
    print(
        f"{'step':24} {'bytes received':>15} {'/ layer':>8} {'/ baseline':>10}"
        f" {'seconds':>8} {'/ baseline':>10} {'plugin s':>9}"
    )
    for step, (sent, seconds, outcome) in rows.items():
        plugin = next(iter(outcome["dlgr_images"][address].values()))["seconds"]
        base_bytes, base_seconds, _ = base.get(step, base["b"])  # (c) against (b)'s
        print(
            f"{names[step]:24} {sent:15,} {sent / change:8.2f} {sent / base_bytes:10.4f}"
            f" {seconds:8.1f} {seconds / base_seconds:10.2f} {plugin:9.2f}"
        )
    for step in ("a", "b"):
        sent, seconds, _ = base[step]
        print(f"baseline {step}: docker save | ssh docker load: {sent:,} bytes, {seconds:.1f} s")
    overhead = rows["b"][0] - 1.1 * change
    print(f"(b) beyond 1.1 x the changed layer: {overhead:,.0f} bytes (target < 524,288)")
    plugin_c = next(iter(rows["c"][2]["dlgr_images"][address].values()))["seconds"]
    print(
        f"(c) the push's own work, {plugin_c:.2f} s, minus the handshake:"
        f" {plugin_c - handshake:.2f} s (target < 1 s)"
    )


if __name__ == "__main__":
    main()
