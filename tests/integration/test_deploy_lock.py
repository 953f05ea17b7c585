"""The server's deploy lock against the shared target: a run killed while it holds the
lock blocks the next one only while its SSH connection or the commands it left running
on the server outlive it, plain ansible-playbook runs take the same lock, and the
history records both runs."""

import os
import signal
import subprocess
import sys
import time

import pytest

from dlgr_ansible.connections import own_connections
from dlgr_ansible.resources import playbooks_dir, share_dir
from tests.integration.conftest import BIN_DIR
from tests.testbed import targets

pytestmark = pytest.mark.integration

LOCK = "/home/dallinger/dallinger/deploy.lock"


def lock_holder(target) -> str:
    return targets.exec_in(target, "cat", LOCK).stdout.strip()


def test_a_killed_runs_lock_is_taken_over_by_a_plain_ansible_playbook_run(researcher, target):
    add = ("servers", "add", "--host", target.address, "--user", "dallinger")
    assert researcher.run(*add).returncode == 0  # Docker installed: the next runs are short
    inventory = researcher.home / "inventory.yml"
    assert researcher.run("inventory", "--output", str(inventory)).returncode == 0

    # Killed as a terminal's Ctrl-\ or an OOM kill would: no chance to give the lock back.
    doomed = subprocess.Popen(
        [BIN_DIR / "dlgr-ansible", *add],
        env=researcher.env,
        cwd=researcher.home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not lock_holder(target) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "dlgr-ansible servers add" in lock_holder(target)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()

    started = time.monotonic()
    prepare = [playbooks_dir() / "prepare.yml", "-e", "docker_engine_source=distribution"]
    plain = subprocess.run(
        [BIN_DIR / "ansible-playbook", "-i", inventory, *prepare],
        env=researcher.env,
        cwd=share_dir(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    waited = time.monotonic() - started
    print(f"a killed run's lock was taken over after {waited:.0f} s", file=sys.stderr)
    output = plain.stdout + plain.stderr
    assert plain.returncode == 0, output[-4000:]
    assert "FAILED - RETRYING" in output  # it waited while the dead run's connection lived
    assert "Took over the deploy lock of a run that is gone: " in output
    assert lock_holder(target) == ""

    result, report = researcher.run_json("history", "--last", "2")
    assert result.returncode == 0, report["errors"]
    dead, taken = report["history"]
    assert (dead["command"], dead["result"]) == ("dlgr-ansible servers add", "interrupted")
    assert (taken["command"], taken["result"]) == ("ansible-playbook prepare.yml", "succeeded")
    assert taken["tool"].startswith("ansible-playbook ")
    assert taken["started"] >= dead["time"]
    modes = targets.exec_in(
        target, "stat", "-c", "%a", LOCK, LOCK.replace("deploy.lock", "deploys.log")
    )
    assert modes.stdout.split() == ["600", "600"]


# A run that takes the lock, then runs a remote command that ends once the test says so
# (at the latest after 120 s); the next run notes what it finds when it holds the lock.
TAKE_LOCK = """
- name: {name}
  hosts: all
  gather_facts: false
  tasks:
    - name: Take the lock
      ansible.builtin.include_role:
        name: dallinger_run
"""
LINGERING = (
    TAKE_LOCK.format(name="A run killed during a long remote command")
    + """
    - name: Work on after the run is killed, as a hand-over does
      ansible.builtin.command:
        cmd: >-
          sh -c 'echo started > /tmp/lingering; i=0;
          while [ ! -e /tmp/lingering-go ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done;
          echo ended > /tmp/lingering'
      changed_when: false
"""
)
NEXT = (
    TAKE_LOCK.format(name="The next run")
    + """
    - name: See how far the killed run's command got
      ansible.builtin.command: cat /tmp/lingering
      changed_when: false
      register: seen
    - name: Give the lock back
      ansible.builtin.include_role:
        name: dallinger_run
        tasks_from: finish
    - name: Say it
      ansible.builtin.debug:
        msg: "lingering: {{ seen.stdout }}"
"""
)


def test_the_next_run_waits_for_the_commands_a_killed_run_left_running(researcher, target):
    """A run stopped as the CLI stops one on Ctrl-C: Ansible killed, its SSH master told
    to exit. Its remote command goes on under init (a hand-over killed half-way still
    stops the old web). The next run takes the lock only once that command has ended,
    rather than work beside it."""
    add = ("servers", "add", "--host", target.address, "--user", "dallinger")
    assert researcher.run(*add).returncode == 0
    inventory = researcher.home / "inventory.yml"
    assert researcher.run("inventory", "--output", str(inventory)).returncode == 0
    playbooks = {}
    for name, text in (("lingering.yml", LINGERING), ("next.yml", NEXT)):
        playbooks[name] = researcher.home / name
        playbooks[name].write_text(text)
    targets.exec_in(target, "rm", "-f", "/tmp/lingering", "/tmp/lingering-go")

    def playbook(name, control_dir, **kwargs):
        # Each run its own SSH master, as the CLI gives them: sharing one would make the
        # killed run's session the next one's.
        env = dict(researcher.env, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control_dir))
        command = [BIN_DIR / "ansible-playbook", "-i", inventory, playbooks[name]]
        return subprocess.Popen(
            command, env=env, cwd=share_dir(), start_new_session=True, text=True, **kwargs
        )

    with own_connections() as doomed_dir:
        doomed = playbook(
            "lingering.yml", doomed_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if targets.exec_in(target, "cat", "/tmp/lingering").stdout.strip() == "started":
                break
            time.sleep(0.2)
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    with own_connections() as next_dir:
        following = playbook("next.yml", next_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # The killed run's command ends only once the next run was seen waiting for it.
        seen = []
        for line in following.stdout:
            seen.append(line)
            if "FAILED - RETRYING" in line:
                break
        targets.exec_in(target, "touch", "/tmp/lingering-go")
        rest, _ = following.communicate(timeout=600)
    output = "".join(seen) + rest
    assert following.returncode == 0, output[-4000:]
    assert "FAILED - RETRYING" in output, output[-4000:]
    assert "Took over the deploy lock of a run that is gone" in output
    assert "lingering: ended" in output
