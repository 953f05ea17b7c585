"""The playbooks' dlgr_deferred_wait action, run by ansible-playbook on this machine: it
waits for the variables file the CLI writes once its build is done, or stops when the
CLI marks the build as failed."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - dlgr_deferred_wait:
        path: "{{ dlgr_deferred_vars }}"
    - ansible.builtin.include_vars:
        file: "{{ dlgr_deferred_vars }}"
    - ansible.builtin.debug:
        msg: "image={{ dallinger_app_image }}"
"""


def play(tmp_path: Path, deferred: Path) -> subprocess.CompletedProcess:
    playbook = tmp_path / "wait.yml"
    playbook.write_text(PLAYBOOK)
    env = {
        **os.environ,
        "ANSIBLE_ACTION_PLUGINS": str(REPO / "playbooks" / "action_plugins"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
    }
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", f"dlgr_deferred_vars={deferred}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def later(seconds: float, action) -> threading.Thread:
    def run():
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_playbook_waits_for_the_variables_and_loads_them(tmp_path):
    deferred = tmp_path / "deferred.json"
    writer = later(1.0, lambda: deferred.write_text(json.dumps({"dallinger_app_image": "lab/x:1"})))
    done = play(tmp_path, deferred)
    writer.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "image=lab/x:1" in done.stdout


def test_a_build_marked_failed_stops_the_playbook_there(tmp_path):
    deferred = tmp_path / "deferred.json"
    marker = later(1.0, (tmp_path / "deferred.json.failed").touch)
    done = play(tmp_path, deferred)
    marker.join()
    assert done.returncode != 0
    assert "The build here did not finish" in done.stdout
    assert "image=" not in done.stdout
