"""The test bed itself: targets behave like the servers the product deploys to."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.testbed import targets
from tests.testbed.targets import Target

pytestmark = pytest.mark.integration


def ssh(target: Target, user: str, key: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*targets.ssh_argv(target, user, key), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dallinger_has_passwordless_sudo(target: Target, ssh_key: Path) -> None:
    result = ssh(target, "dallinger", ssh_key, "sudo", "-n", "true")
    assert result.returncode == 0, result.stderr


def test_nosudo_logs_in_but_cannot_sudo(target: Target, ssh_key: Path) -> None:
    login = ssh(target, "nosudo", ssh_key, "id", "-un")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "nosudo"

    result = ssh(target, "nosudo", ssh_key, "sudo", "-n", "true")
    assert result.returncode != 0
    assert "password is required" in result.stderr


def test_only_keys_are_accepted(target: Target, ssh_key: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    refused = ssh(target, "dallinger", other, "true")
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr  # no password method offered


def test_systemd_is_up(target: Target) -> None:
    state = targets.exec_in(target, "systemctl", "is-system-running", "--wait", timeout=120)
    assert state.stdout.strip() in {"running", "degraded"}, state.stdout + state.stderr
    sshd = targets.exec_in(target, "systemctl", "is-active", "ssh")
    assert sshd.stdout.strip() == "active"


def test_each_target_has_its_own_host_keys(make_target: Callable[[], Target]) -> None:
    first, second = make_target(), make_target()
    assert first.address != second.address

    def host_key(t: Target) -> str:
        scan = subprocess.run(
            ["ssh-keyscan", "-t", "ed25519", "-p", str(t.ssh_port), t.address],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return scan.stdout.split()[-1]

    assert host_key(first) != host_key(second)
    baked = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            *targets.label_flags(),
            targets.TARGET_IMAGE,
            "sh",
            "-c",
            "ls /etc/ssh/ssh_host_*",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert baked.returncode != 0, f"host keys baked into the image: {baked.stdout}"
