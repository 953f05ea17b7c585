"""The app's compose file as Ansible renders it (on localhost, no server): its health
checks look every quarter second while Redis and pgbouncer start only where Docker takes
`start_interval` (API 1.44 and later); compose refuses the file on older engines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ROLES = REPO / "roles"


def render_compose(tmp_path: Path, api: str | None) -> dict:
    (tmp_path / "templates").symlink_to(ROLES / "dallinger_app" / "templates")
    defaults = [
        ROLES / "dallinger_common" / "defaults" / "main.yml",
        ROLES / "dallinger_app" / "defaults" / "main.yml",
        ROLES / "dallinger_app" / "vars" / "main.yml",
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n"
        f"  vars_files: {json.dumps([str(path) for path in defaults])}\n"
        "  tasks:\n"
        "    - name: Render\n"
        "      ansible.builtin.copy:\n"
        "        content: \"{{ lookup('ansible.builtin.template', 'docker-compose.yml.j2') }}\"\n"
        "        dest: '{{ out }}'\n"
        "        mode: '0600'\n"
    )
    out = tmp_path / "docker-compose.yml"
    extra = {
        "out": str(out),
        "dallinger_app_name": "demo",
        "dallinger_app_image": "lab/exp:1",
        "dallinger_app_db_password": "not-a-secret",
        "ansible_facts": {"user_uid": 1000, "user_gid": 1000, "user_dir": "/home/lab"},
    }
    if api is not None:
        extra["dallinger_app_docker_api"] = api
    env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "0"}
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", json.dumps(extra)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return yaml.safe_load(out.read_text())


@pytest.mark.parametrize(("api", "fast"), [("1.44", True), ("1.43", False), (None, False)])
def test_start_interval_only_where_docker_takes_it(tmp_path, api, fast):
    services = render_compose(tmp_path, api)["services"]
    for name in ("redis", "pgbouncer"):
        check = services[name]["healthcheck"]
        assert check["interval"] == "2s"
        assert ("start_interval" in check) is fast, (name, check)
        assert ("start_period" in check) is fast, (name, check)
