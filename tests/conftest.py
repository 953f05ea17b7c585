"""Shared fixtures: an SSH key and real SSH targets (systemd + sshd in Docker).

The Docker fixtures never skip: if the engine cannot start or an image cannot
be built, the tests that need them fail with the reason, so CI cannot pass
without having run them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.testbed import targets
from tests.testbed.targets import Target

SHARED_TARGET = ("dlgr-target-1", "127.0.0.11")


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Private ed25519 key (no passphrase); the public key is next to it with `.pub`."""
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dlgr-test", "-f", str(key)],
        check=True,
    )
    key.chmod(0o600)
    return key


def _fail(reason: str) -> pytest.fail.Exception:
    """A test failure showing just `reason` (no traceback, no chained exception)."""
    return pytest.fail.Exception(reason, pytrace=False)


@pytest.fixture(scope="session")
def testbed() -> None:
    """Docker running, leftovers of earlier runs gone, images built (cached by tag)."""
    try:
        targets.ensure_docker()
        targets.remove_leftovers()
        targets.build_images()
    except targets.TestbedError as exc:
        raise _fail(f"test bed unavailable: {exc}") from None


def _start(name: str, address: str, ssh_key: Path, suite: str = targets.SUITE) -> Target:
    try:
        if suite != targets.SUITE:  # the session's own suite is built by `testbed`
            targets.build_images(suite=suite)
        key = ssh_key.with_suffix(".pub").read_text()
        return targets.start_target(name, address, key, suite=suite)
    except targets.TestbedError as exc:
        raise _fail(f"could not start target {name}: {exc}") from None


@pytest.fixture(scope="session")
def target(testbed: None, ssh_key: Path) -> Iterator[Target]:
    """One target shared by the whole session, SSH on 127.0.0.11:22."""
    shared = _start(*SHARED_TARGET, ssh_key)
    yield shared
    targets.stop_target(shared)


@pytest.fixture
def make_target(testbed: None, ssh_key: Path) -> Iterator[Callable[..., Target]]:
    """Factory for throwaway targets on free loopback addresses, all removed after the test.

    `make(suite="bookworm")` gives a Debian 12 target instead of the default Debian 13.
    """
    started: list[Target] = []

    def make(suite: str = targets.SUITE) -> Target:
        address = targets.free_loopback_address(first=12)
        fresh = _start(f"dlgr-{suite}-{address.rsplit('.', 1)[1]}", address, ssh_key, suite)
        started.append(fresh)
        return fresh

    yield make
    for fresh in started:
        targets.stop_target(fresh)


@pytest.fixture
def fresh_target(make_target: Callable[[], Target]) -> Target:
    """A new target of its own for one test (127.0.0.12 or the next free address)."""
    return make_target()
