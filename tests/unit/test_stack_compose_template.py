"""The stack's compose file as Ansible renders it (on localhost, no server), from what the
look at the server found (given here): PostgreSQL's and Caddy's health checks look every
quarter second while they start and every 30 s after only where Docker takes
`start_interval` (API 1.44 and later), and only for a new stack or one that has them
already; a stack set up before keeps its checks (changed checks would recreate the
shared PostgreSQL under every app). The role's own script tells the rendered files apart."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ROLES = REPO / "roles"

PLAY = """\
- hosts: localhost
  gather_facts: false
  vars_files: {defaults}
  tasks:
    - name: Render the compose file of each case
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', 'docker-compose.yml.j2') }}}}"
        dest: "{{{{ out }}}}/{{{{ item.name }}}}.yml"
        mode: "0600"
      vars:
        dallinger_server_checks_found: {{stdout_lines: "{{{{ item.lines }}}}"}}
      loop: "{{{{ cases }}}}"
"""

# case: (what the look found: API version and the checks, slow checks expected)
CASES = {
    "new-stack-new-engine": (["1.44", "new"], True),
    "new-stack-old-engine": (["1.43", "new"], False),
    "existing-stack-without": (["1.45", "no"], False),
    "existing-stack-with": (["1.45", "yes"], True),
    "existing-stack-with-engine-downgraded": (["1.41", "yes"], False),
    "nothing-found": ([], False),
}
# service: (interval, retries) with checks every 2 s (or 5 s) as before
BEFORE = {"postgresql": ("2s", 30), "httpserver": ("5s", 12)}


def test_slow_checks_only_where_docker_takes_start_interval_and_nothing_is_recreated(tmp_path):
    (tmp_path / "templates").symlink_to(ROLES / "dallinger_server" / "templates")
    defaults = [
        str(ROLES / "dallinger_common" / "defaults" / "main.yml"),
        str(ROLES / "dallinger_server" / "defaults" / "main.yml"),
        str(ROLES / "dallinger_server" / "vars" / "main.yml"),
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(defaults=json.dumps(defaults)))
    extra = {
        "out": str(tmp_path),
        "cases": [{"name": name, "lines": lines} for name, (lines, _) in CASES.items()],
        "dallinger_server_pg_image": "postgres:17",
    }
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", json.dumps(extra)],
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    script = yaml.safe_load((ROLES / "dallinger_server" / "vars" / "main.yml").read_text())[
        "dallinger_server_checks_script"
    ]
    tells = script.splitlines()[-1]  # the line that reads the compose file
    missing = subprocess.run(
        ["sh", "-c", tells, "sh", str(tmp_path / "none.yml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert missing.stdout.strip() == "new"
    for name, (_, slow) in CASES.items():
        rendered = tmp_path / f"{name}.yml"
        services = yaml.safe_load(rendered.read_text())["services"]
        for service, (interval, retries) in BEFORE.items():
            check = services[service]["healthcheck"]
            expected = ("30s", 2) if slow else (interval, retries)
            assert (check["interval"], check["retries"]) == expected, (name, service, check)
            assert ("start_interval" in check) is slow, (name, service, check)
            assert ("start_period" in check) is slow, (name, service, check)
        told = subprocess.run(
            ["sh", "-c", tells, "sh", str(rendered)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert told == ("yes" if slow else "no"), (name, told)
