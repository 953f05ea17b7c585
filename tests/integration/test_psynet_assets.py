"""The dallinger_app role's PsyNet asset transfer (action plugin dallinger_app_assets)
against the shared target, through plain ansible-playbook: only missing files travel,
a second run changes nothing, a run cut off is finished by the next, and a folder
Docker made as root goes back to the SSH user."""

import json
import shlex
import subprocess

import pytest

from dlgr_ansible.resources import share_dir
from tests.integration.conftest import BIN_DIR, REPO
from tests.testbed import targets

pytestmark = pytest.mark.integration

ASSETS = "/home/dallinger/psynet-data/assets"
NAMES = ["cached/a/1.png", "experiments/x y/it's.wav", "experiments/x y/deep/b.txt"]


def send(researcher, inventory, folder):
    done = subprocess.run(
        [
            BIN_DIR / "ansible-playbook",
            "-i",
            inventory,
            REPO / "tests" / "playbooks" / "assets_probe.yml",
            "-e",
            json.dumps({"probe_assets": str(folder)}),
            "-v",
        ],
        env={**researcher.env, "ANSIBLE_ROLES_PATH": str(share_dir() / "roles")},
        cwd=share_dir(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def recap_changed(output: str) -> int:
    recap = output.rsplit("PLAY RECAP", 1)[1]
    return int(recap.split("changed=")[1].split()[0])


def on_target(target, command: str) -> str:
    return targets.exec_in(target, "sh", "-c", command, check=True).stdout


def test_only_missing_files_travel_and_a_cut_off_run_is_finished(researcher, target, tmp_path):
    add = ("servers", "add", "--host", target.address, "--user", "dallinger")
    assert researcher.run(*add).returncode == 0
    inventory = researcher.home / "inventory.yml"
    assert researcher.run("inventory", "--output", str(inventory)).returncode == 0
    # As Docker leaves a bind mount's missing folder: root's.
    on_target(target, f"rm -rf /home/dallinger/psynet-data && mkdir -p {ASSETS}")
    folder = tmp_path / "assets"
    for n, name in enumerate(NAMES):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(bytes([n]) * (1000 + n))

    first = send(researcher, inventory, folder)
    assert "sent 3 of 3 files (3003 bytes)" in first
    for n, name in enumerate(NAMES):
        path = shlex.quote(f"{ASSETS}/{name}")
        assert on_target(target, f"od -An -tu1 {path} | head -1").split()[0] == str(n)
    owners = on_target(target, f"stat -c %U /home/dallinger/psynet-data {ASSETS}")
    assert owners.split() == ["dallinger", "dallinger"]

    again = send(researcher, inventory, folder)
    assert "the server has all 3 files" in again
    print(again)
    assert recap_changed(again) == 0

    # A run cut off after the upload leaves its folder and no partial file in place.
    (folder / "cached" / "a" / "2.png").write_bytes(b"new")
    on_target(target, f"runuser -u dallinger -- mkdir -p {ASSETS}/../.dlgr-incoming-cut/files")
    third = send(researcher, inventory, folder)
    assert "sent 1 of 4 files (3 bytes)" in third
    assert on_target(target, f"ls -A {ASSETS}/..").split() == ["assets"]
    assert on_target(target, f"cat {ASSETS}/cached/a/2.png") == "new"
    # Nothing on the server is replaced.
    (folder / NAMES[0]).write_bytes(b"changed here")
    assert "the server has all 4 files" in send(researcher, inventory, folder)
    assert on_target(target, f"wc -c < {ASSETS}/{NAMES[0]}").strip() == "1000"
