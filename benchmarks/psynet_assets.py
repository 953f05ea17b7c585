"""PsyNet's assets to a server: the dallinger_app role's one tar stream of the missing files
against PsyNet's own way, one SFTP put per file, on the same target in the same run.

    .venv-psynet/bin/python -m benchmarks.psynet_assets [--small 500] [--large-mb 50]

Runs in the PsyNet environment (`make deps` makes .venv-psynet), which has paramiko, as
`psynet deploy ssh` uses it. Uses the test bed: one fresh target (SSH on 127.0.0.81),
and a folder laid out as PsyNet's preparation stages it: `--small` files of 1-20 kB
(random, as audio stimuli do not compress) and one of `--large-mb` MB.

- ours: plain ansible-playbook of tests/playbooks/assets_probe.yml (the role's tasks:
  the folder made as the SSH user, the listing, the upload, the unpacking), first to an
  empty folder, then again with nothing missing;
- PsyNet's: what LocalStorage._put_file does per file over one cached connection:
  `mkdir -p` of the file's folder through an SSH exec, then an SFTP put, into another
  folder of the same target.

Prints each one's seconds and the ratio ours / PsyNet's.
"""

import argparse
import json
import os
import posixpath
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paramiko

from dlgr_ansible.resources import share_dir
from tests.integration.conftest import new_researcher
from tests.testbed import targets

ADDRESS = "127.0.0.81"
REPO = Path(__file__).resolve().parent.parent
PROBE = REPO / "tests" / "playbooks" / "assets_probe.yml"


def staged(root: Path, small: int, large_mb: int, seed: int = 1) -> Path:
    """A folder as PsyNet's preparation leaves it: cached/ and experiments/<id>/."""
    rng = random.Random(seed)  # noqa: S311 test data, seeded to be the same each run
    assets = root / "psynet-data" / "assets"
    for n in range(small):
        kind = "cached" if n % 2 else "experiments/bench__mode=live__launch=1"
        path = assets / kind / f"module{n % 7}" / f"stimulus_{n}" / f"{n:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(1_000, 20_000)))
    big = assets / "cached" / "video" / "intro" / "intro.mp4"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(os.urandom(large_mb * 1_000_000))
    return assets


def ours(lab, inventory: Path, folder: Path) -> tuple[float, dict]:
    started = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(PROBE),
            "-e",
            json.dumps({"probe_assets": str(folder)}),
            "-v",
        ],
        env={**lab.env, "ANSIBLE_ROLES_PATH": str(share_dir() / "roles")},
        cwd=share_dir(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    line = next(line for line in done.stdout.splitlines() if '"sent_files"' in line)
    return seconds, json.loads(line.split(" => ", 1)[1])


def psynets_way(key: Path, folder: Path, dest: str) -> float:
    """One connection (PsyNet caches it), then per file an exec of mkdir -p and a put."""
    started = time.monotonic()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 a test bed target
    client.connect(ADDRESS, username="dallinger", key_filename=str(key))
    sftp = client.open_sftp()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        remote = posixpath.join(dest, path.relative_to(folder).as_posix())
        _, out, _ = client.exec_command(f'mkdir -p "{posixpath.dirname(remote)}"')
        out.channel.recv_exit_status()
        with path.open("rb") as data:
            sftp.putfo(data, remote)
    sftp.close()
    client.close()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.psynet_assets")
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large-mb", type=int, default=50)
    args = parser.parse_args()
    targets.ensure_docker()
    targets.build_images()
    with tempfile.TemporaryDirectory(prefix="dlgr-bench-assets-") as tmp:
        root = Path(tmp)
        key = root / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        folder = staged(root / "staged", args.small, args.large_mb)
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        target = targets.start_target(
            "dlgr-bench-assets", ADDRESS, key.with_suffix(".pub").read_text()
        )
        try:
            (root / "lab").mkdir()
            lab = new_researcher(root / "lab", key)
            added = lab.run("servers", "add", "--host", ADDRESS, "--user", "dallinger")
            if added.returncode != 0:
                raise SystemExit(f"servers add failed: {added.stderr[-2000:]}")
            inventory = root / "inventory.yml"
            lab.run("inventory", "--output", str(inventory))
            print(f"{files} files, {size / 1e6:.1f} MB, to {ADDRESS}", flush=True)
            theirs = psynets_way(key, folder, "/home/dallinger/sftp-assets")
            first, sent = ours(lab, inventory, folder)
            again, unchanged = ours(lab, inventory, folder)
        finally:
            targets.stop_target(target)
    print(f"{'':34} {'seconds':>8} {'ratio':>6}")
    print(f"{'PsyNet: one SFTP put per file':34} {theirs:8.1f} {1:6.2f}")
    print(
        f"{'ours, first (' + str(sent['sent_files']) + ' files sent)':34} {first:8.1f} {first / theirs:6.2f}"
    )
    print(
        f"{'ours, again (' + str(unchanged['sent_files']) + ' files sent)':34} {again:8.1f}"
        f" {again / theirs:6.2f}"
    )


if __name__ == "__main__":
    main()
