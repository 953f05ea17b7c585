import json
import subprocess
import sys
from pathlib import Path

import yaml

from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import render_inventory

TRICKY_KEY = Path('/home/a b/it\'s "my" key: #1')


def test_renders_hosts_and_safe_ssh_options():
    servers = {
        "127.0.0.11": Server("127.0.0.11", "dallinger"),
        "x.org": Server("x.org", None, 2222),
    }
    text = render_inventory(servers, TRICKY_KEY, Path("/h/.ssh/known hosts"))
    group = yaml.safe_load(text)["all"]["children"]["dallinger_servers"]
    assert group["vars"]["ansible_ssh_private_key_file"] == str(TRICKY_KEY)
    args = group["vars"]["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=accept-new" in args
    assert "UserKnownHostsFile='/h/.ssh/known hosts'" in args
    assert group["vars"]["ansible_pipelining"] is True
    assert group["vars"]["ansible_ssh_host_key_checking"] is True
    assert group["hosts"]["127.0.0.11"] == {
        "ansible_host": "127.0.0.11",
        "ansible_port": 22,
        "ansible_user": "dallinger",
    }
    assert group["hosts"]["x.org"] == {"ansible_host": "x.org", "ansible_port": 2222}


def ansible_inventory_list(path: Path):
    """What the real ansible-inventory makes of the file: its JSON, and the run."""
    ansible_inventory = Path(sys.executable).parent / "ansible-inventory"
    listed = subprocess.run(
        [str(ansible_inventory), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(listed.stdout), listed


def test_ansible_inventory_accepts_it(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(render_inventory({"h.org": Server("h.org", "u")}, TRICKY_KEY, tmp_path / "kh"))
    data, _ = ansible_inventory_list(path)
    assert data["dallinger_servers"]["hosts"] == ["h.org"]
    assert data["_meta"]["hostvars"]["h.org"]["ansible_ssh_private_key_file"] == str(TRICKY_KEY)


def test_empty_store_renders_a_valid_inventory():
    text = render_inventory({}, Path("/k"), Path("/kh"))
    assert yaml.safe_load(text)["all"]["children"]["dallinger_servers"]["hosts"] == {}


def test_a_server_saved_under_a_name_of_the_controller_is_listed_under_another(tmp_path):
    """Ansible makes an inventory host called localhost, 127.0.0.1 or ::1 the target of
    `delegate_to: localhost`; the real ansible-inventory shows it is not one any more."""
    servers = {
        "localhost": Server("localhost", "u", 2222),
        "127.0.0.1": Server("127.0.0.1", "u", 2223),
        "::1": Server("::1", "u", 2224),
    }
    path = tmp_path / "inventory.yml"
    path.write_text(render_inventory(servers, TRICKY_KEY, tmp_path / "kh"))
    data, listed = ansible_inventory_list(path)
    names = ["server-127.0.0.1", "server-ip6-localhost", "server-localhost"]
    assert sorted(data["dallinger_servers"]["hosts"]) == names
    hostvars = data["_meta"]["hostvars"]
    assert [hostvars[name]["ansible_host"] for name in names] == ["127.0.0.1", "::1", "localhost"]
    assert "A duplicate localhost-like entry" not in listed.stderr
