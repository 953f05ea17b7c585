"""dallinger_common_stamp_sum as Ansible renders it, with a fake `docker` on PATH that
prints the arguments it gets (no Docker engine): the image ids it sums are asked for with
Docker's own format string, so that a rebuilt image under the same name changes the sum."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def render_stamp(tmp_path: Path, docker_says: str) -> str:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "docker").write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/args\necho {docker_says}\n'
    )
    (fake_bin / "docker").chmod(0o755)
    role = tmp_path / "roles" / "probe"
    (role / "tasks").mkdir(parents=True, exist_ok=True)
    (role / "meta").mkdir(exist_ok=True)
    (role / "meta" / "main.yml").write_text("dependencies:\n  - role: dallinger_common\n")
    (role / "tasks" / "main.yml").write_text(
        textwrap.dedent(
            """\
            - name: Sum up
              ansible.builtin.copy:
                content: "{{ dallinger_common_stamp_sum }}"
                dest: "{{ out }}"
                mode: "0600"
              vars:
                dallinger_common_stamp_roles: [probe]
                dallinger_common_stamp_images: [lab/exp:1]
            """
        )
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [probe]\n")
    out = tmp_path / "sum"
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "ANSIBLE_ROLES_PATH": f"{REPO / 'roles'}:{tmp_path / 'roles'}",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", json.dumps({"out": str(out)})],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_text()


def test_a_rebuilt_image_under_the_same_name_changes_the_sum(tmp_path):
    first = render_stamp(tmp_path, "sha256:aaa")
    assert (tmp_path / "args").read_text().splitlines() == [
        "image inspect --format {{.Id}} lab/exp:1"
    ]
    assert render_stamp(tmp_path, "sha256:aaa") == first
    assert render_stamp(tmp_path, "sha256:bbb") != first
