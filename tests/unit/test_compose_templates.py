"""The app's and the stack's compose files as Ansible renders them (on localhost, no
server), from what the role's look at the server found (given here).

Health checks look every quarter second while a container starts and every 30 s after only
where Docker takes `start_interval` (API 1.44 and later; compose refuses the file on older
engines), and only for a new app or stack or one that has them already: an app or stack
whose checks look every 2 s (5 s for Caddy) keeps them, since changed checks would make
compose recreate Redis and pgbouncer under the serving web, or the shared PostgreSQL under
every app. The roles' own shell lines tell the rendered files apart.
"""

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
        {found}: {{stdout_lines: "{{{{ item.lines }}}}"}}
      loop: "{{{{ cases }}}}"
"""


def render(tmp_path: Path, role: str, found: str, cases: dict, **extra) -> dict[str, dict]:
    """Each case's rendered services, the role's `found` register set to its lines."""
    (tmp_path / "templates").symlink_to(ROLES / role / "templates")
    defaults = [
        str(ROLES / "dallinger_common" / "defaults" / "main.yml"),
        str(ROLES / role / "defaults" / "main.yml"),
        str(ROLES / role / "vars" / "main.yml"),
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(defaults=json.dumps(defaults), found=found))
    extra |= {
        "out": str(tmp_path),
        "cases": [{"name": name, "lines": case[0]} for name, case in cases.items()],
    }
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", json.dumps(extra)],
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {
        name: yaml.safe_load((tmp_path / f"{name}.yml").read_text())["services"] for name in cases
    }


def told(lines: str, compose_file: Path) -> str:
    """What the role's shell lines say of `compose_file` (their $1)."""
    return subprocess.run(
        ["sh", "-c", lines, "sh", str(compose_file)], capture_output=True, text=True, check=True
    ).stdout.strip()


def app_found(compose_exists: bool, api: str | None, checks: str) -> list[str]:
    """The inspect task's lines: 0 the compose file exists, 8 the API, 9 the checks: no
    start_interval, start_interval looking every 2 s after (yes), or every 30 s (long)."""
    lines = ["yes" if compose_exists else "no", "no", "no", "0,0,-1,", "", "", "no", "x"]
    if api is not None:
        lines += [api, checks]
    return lines


# case: (inspect lines, start_interval expected, interval expected)
APP_CASES = {
    "new-app-new-engine": (app_found(False, "1.44", "no"), True, "30s"),
    "new-app-old-engine": (app_found(False, "1.43", "no"), False, "2s"),
    "existing-app-without": (app_found(True, "1.45", "no"), False, "2s"),
    "existing-app-with": (app_found(True, "1.45", "yes"), True, "2s"),
    "existing-app-with-long": (app_found(True, "1.45", "long"), True, "30s"),
    "existing-app-with-engine-downgraded": (app_found(True, "1.41", "yes"), False, "2s"),
    "existing-app-with-long-engine-downgraded": (app_found(True, "1.41", "long"), False, "2s"),
    "api-unknown": (app_found(False, None, "no"), False, "2s"),
}


def test_app_checks_start_fast_and_slow_down_only_where_docker_takes_it_and_nothing_is_recreated(
    tmp_path,
):
    rendered = render(
        tmp_path,
        "dallinger_app",
        "dallinger_app_found",
        APP_CASES,
        dallinger_app_name="demo",
        dallinger_app_image="lab/exp:1",
        dallinger_app_db_password="not-a-secret",
        ansible_facts={"user_uid": 1000, "user_gid": 1000, "user_dir": "/home/lab"},
    )
    inspect = yaml.safe_load((ROLES / "dallinger_app" / "tasks" / "inspect.yml").read_text())
    script = next(
        task for task in inspect if "dallinger_app_inspect_script" in task.get("vars", {})
    )
    tells = "\n".join(script["vars"]["dallinger_app_inspect_script"].splitlines()[-2:])
    for name, (_, fast, interval) in APP_CASES.items():
        for service in ("redis", "pgbouncer"):
            check = rendered[name][service]["healthcheck"]
            assert check["interval"] == interval, (name, service, check)
            # Unhealthy after about a minute of failures either way.
            assert check["retries"] == (2 if interval == "30s" else 30), (name, service, check)
            assert ("start_interval" in check) is fast, (name, service, check)
            assert ("start_period" in check) is fast, (name, service, check)
        expected = {(False, "2s"): "no", (True, "2s"): "yes", (True, "30s"): "long"}
        assert told(tells, tmp_path / f"{name}.yml") == expected[fast, interval], name


# case: (what the look found: API version and the checks, slow checks expected)
STACK_CASES = {
    "new-stack-new-engine": (["1.44", "new"], True),
    "new-stack-old-engine": (["1.43", "new"], False),
    "existing-stack-without": (["1.45", "no"], False),
    "existing-stack-with": (["1.45", "yes"], True),
    "existing-stack-with-engine-downgraded": (["1.41", "yes"], False),
    "nothing-found": ([], False),
}
# service: (interval, retries) of the checks as they were before
STACK_BEFORE = {"postgresql": ("2s", 30), "httpserver": ("5s", 12)}


def test_stack_checks_start_fast_and_slow_down_only_where_docker_takes_it_and_nothing_is_recreated(
    tmp_path,
):
    rendered = render(
        tmp_path,
        "dallinger_server",
        "dallinger_server_checks_found",
        STACK_CASES,
        dallinger_server_pg_image="postgres:17",
    )
    script = yaml.safe_load((ROLES / "dallinger_server" / "vars" / "main.yml").read_text())[
        "dallinger_server_checks_script"
    ]
    tells = script.splitlines()[-1]  # the line that reads the compose file
    assert told(tells, tmp_path / "none.yml") == "new"
    for name, (_, slow) in STACK_CASES.items():
        for service, (interval, retries) in STACK_BEFORE.items():
            check = rendered[name][service]["healthcheck"]
            expected = ("30s", 2) if slow else (interval, retries)
            assert (check["interval"], check["retries"]) == expected, (name, service, check)
            assert ("start_interval" in check) is slow, (name, service, check)
            assert ("start_period" in check) is slow, (name, service, check)
        assert told(tells, tmp_path / f"{name}.yml") == ("yes" if slow else "no"), name
