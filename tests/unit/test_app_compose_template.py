"""The app's compose file as Ansible renders it (on localhost, no server), from what the
inspect round trip found (given here): Redis and pgbouncer health checks look every
quarter second while they start, then every 30 s, only where Docker takes
`start_interval` (API 1.44 and later; compose refuses the file on older engines), and
only for a new app or one that has them already; an app whose checks look every 2 s
keeps them (changed checks would recreate both under the serving web)."""

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
        dallinger_app_found: {{stdout_lines: "{{{{ item.lines }}}}"}}
      loop: "{{{{ cases }}}}"
"""


def found(compose_exists: bool, api: str | None, checks: str) -> list[str]:
    """The inspect task's lines: 0 the compose file exists, 8 the API, 9 the checks: no
    start_interval, start_interval looking every 2 s after (yes), or every 30 s (long)."""
    lines = ["yes" if compose_exists else "no", "no", "no", "0,0,-1,", "", "", "no", "x"]
    if api is not None:
        lines += [api, checks]
    return lines


# case: (inspect lines, start_interval expected, interval expected)
CASES = {
    "new-app-new-engine": (found(False, "1.44", "no"), True, "30s"),
    "new-app-old-engine": (found(False, "1.43", "no"), False, "2s"),
    "existing-app-without": (found(True, "1.45", "no"), False, "2s"),
    "existing-app-with": (found(True, "1.45", "yes"), True, "2s"),
    "existing-app-with-long": (found(True, "1.45", "long"), True, "30s"),
    "existing-app-with-engine-downgraded": (found(True, "1.41", "yes"), False, "2s"),
    "existing-app-with-long-engine-downgraded": (found(True, "1.41", "long"), False, "2s"),
    "api-unknown": (found(False, None, "no"), False, "2s"),
}


def test_start_interval_only_where_docker_takes_it_and_nothing_is_recreated(tmp_path):
    (tmp_path / "templates").symlink_to(ROLES / "dallinger_app" / "templates")
    defaults = [
        str(ROLES / "dallinger_common" / "defaults" / "main.yml"),
        str(ROLES / "dallinger_app" / "defaults" / "main.yml"),
        str(ROLES / "dallinger_app" / "vars" / "main.yml"),
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(defaults=json.dumps(defaults)))
    extra = {
        "out": str(tmp_path),
        "cases": [{"name": name, "lines": case[0]} for name, case in CASES.items()],
        "dallinger_app_name": "demo",
        "dallinger_app_image": "lab/exp:1",
        "dallinger_app_db_password": "not-a-secret",
        "ansible_facts": {"user_uid": 1000, "user_gid": 1000, "user_dir": "/home/lab"},
    }
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", json.dumps(extra)],
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name, (_, fast, interval) in CASES.items():
        services = yaml.safe_load((tmp_path / f"{name}.yml").read_text())["services"]
        for service in ("redis", "pgbouncer"):
            check = services[service]["healthcheck"]
            assert check["interval"] == interval, (name, service, check)
            # Unhealthy after about a minute of failures either way.
            assert check["retries"] == (2 if interval == "30s" else 30), (name, service, check)
            assert ("start_interval" in check) is fast, (name, service, check)
            assert ("start_period" in check) is fast, (name, service, check)
    # The inspect task's own last lines tell each rendered file's checks apart.
    inspect = yaml.safe_load((ROLES / "dallinger_app" / "tasks" / "inspect.yml").read_text())
    script = next(
        task for task in inspect if "dallinger_app_inspect_script" in task.get("vars", {})
    )
    tells = "\n".join(script["vars"]["dallinger_app_inspect_script"].splitlines()[-2:])
    for name, (_, fast, interval) in CASES.items():
        told = subprocess.run(
            ["sh", "-c", tells, "sh", str(tmp_path / f"{name}.yml")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert (
            told
            == {(False, "2s"): "no", (True, "2s"): "yes", (True, "30s"): "long"}[fast, interval]
        ), (name, told)
