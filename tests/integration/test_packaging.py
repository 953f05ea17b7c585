"""A built wheel (not the source tree) carries the playbooks and runs the smoke check."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", out / "dist", REPO], check=True)
    (wheel,) = (out / "dist").glob("dlgr_ansible-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", out / "site", wheel], check=True)
    return out / "site"


def test_wheel_ships_ansible_content(installed_wheel):
    share = installed_wheel / "dlgr_ansible" / "share"
    assert (share / "playbooks" / "ping.yml").is_file()
    assert (share / "inventory_templates" / "hosts.yml.j2").is_file()
    assert (share / "local_server" / "server" / "Dockerfile").is_file()
    assert (share / "local_server" / "service-images" / "postgres" / "Dockerfile").is_file()
    for role in ("docker_engine", "docker_images", "dallinger_server"):
        assert (share / "roles" / role / "tasks" / "main.yml").is_file()
        assert (share / "roles" / role / "meta" / "argument_specs.yml").is_file()


def test_installed_wheel_runs_the_smoke_check(installed_wheel, researcher, target):
    env = dict(researcher.env, PYTHONPATH=str(installed_wheel))
    where = subprocess.run(
        [sys.executable, "-c", "import dlgr_ansible.resources as r; print(r.share_dir())"],
        env=env,
        cwd=researcher.home,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()) == installed_wheel / "dlgr_ansible" / "share"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlgr_ansible",
            "servers",
            "add",
            "--host",
            target.address,
            "--user",
            "dallinger",
            "--json",
        ],
        env=env,
        cwd=researcher.home,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert os.listdir(researcher.tmp) == []
