"""The inventory the CLI renders works with plain ansible-inventory and ansible-playbook."""

import json
import subprocess

import pytest

from dlgr_ansible.resources import playbooks_dir, share_dir
from tests.integration.conftest import BIN_DIR

pytestmark = pytest.mark.integration


def test_inventory_drives_plain_ansible_playbook(researcher, target):
    added = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert added.returncode == 0, added.stderr
    inventory = researcher.home / "inventory.yml"
    assert researcher.run("inventory", "--output", str(inventory)).returncode == 0

    listed = subprocess.run(
        [BIN_DIR / "ansible-inventory", "-i", inventory, "--list"],
        env=researcher.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(listed.stdout)["dallinger_servers"]["hosts"] == [target.address]

    played = subprocess.run(
        [BIN_DIR / "ansible-playbook", "-i", inventory, playbooks_dir() / "ping.yml"],
        env=researcher.env,
        cwd=share_dir(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert played.returncode == 0, played.stdout + played.stderr
    assert f"{target.address}" in played.stdout
    assert "failed=0" in played.stdout
    assert "unreachable=0" in played.stdout
