"""Every `docker_container_exec` task tries again when runc failed to start its command.

On a loaded host runc can fail to start an exec'd process ("OCI runtime exec failed: ...
read init-p: connection reset by peer", exit 126). The command never ran, so trying again
is safe, and a backup, a deploy or a destroy must not stop on it (CI saw one stop a
backup's schema query).
"""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXEC = "community.docker.docker_container_exec"


def tasks(items):
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            yield from tasks(item.get(key))


def exec_tasks() -> list[tuple[str, dict]]:
    found = []
    for path in [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("playbooks/*.yml")]:
        for task in tasks(yaml.safe_load(path.read_text())):
            if EXEC in task:
                found.append((f"{path.relative_to(REPO)}: {task.get('name')}", task))
    return found


def test_exec_tasks_exist_to_be_checked():
    assert len(exec_tasks()) >= 10


def test_every_exec_task_retries_on_the_runtime_failure_only():
    wrong = []
    for where, task in exec_tasks():
        register = task.get("register")
        until = f"{register}.stdout | default('') is not search(dallinger_common_exec_failed)"
        if not (
            register
            and task.get("retries") == "{{ dallinger_common_exec_retries }}"
            and task.get("until") == until
        ):
            wrong.append(where)
    assert not wrong, wrong
