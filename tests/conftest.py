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

# How `make test`'s pytest-xdist workers share the work (see pytest_xdist_make_scheduler):
# a module is one unit, run by one worker in its order with its module fixtures, except
# - modules whose tests each make a fresh server of their own: one unit per test;
APART_MODULES = frozenset({"tests/integration/test_provision.py"})
# - modules using the session's shared `target` (checked at collection): one unit, so
#   one worker's target serves them all and Docker is installed on it once.
SHARED_TARGET_MODULES = frozenset(
    {
        "tests/integration/test_deploy_lock.py",
        "tests/integration/test_packaging.py",
        "tests/integration/test_plain_ansible.py",
        "tests/integration/test_psynet_assets.py",
        "tests/integration/test_runner_secrets.py",
        "tests/integration/test_servers.py",
        "tests/testbed/test_targets.py",
    }
)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first: the end-to-end modules (most tests first) start at once on different
    workers; unit tests go last to fill the gaps. A module's tests keep their order."""
    unlisted = {
        _module(item.nodeid)
        for item in items
        if "target" in getattr(item, "fixturenames", ())
        and _module(item.nodeid) not in SHARED_TARGET_MODULES
    }
    if unlisted:
        raise pytest.UsageError(
            f"{', '.join(sorted(unlisted))} use the shared `target`: add them to "
            "SHARED_TARGET_MODULES in tests/conftest.py"
        )
    per_module: dict[str, int] = {}
    for item in items:
        per_module[_module(item.nodeid)] = per_module.get(_module(item.nodeid), 0) + 1

    def rank(item: pytest.Item) -> tuple[int, int]:
        if item.get_closest_marker("e2e"):
            return 0, -per_module[_module(item.nodeid)]
        return (2, 0) if item.nodeid.startswith("tests/unit/") else (1, 0)

    items.sort(key=rank)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Work units as APART_MODULES and SHARED_TARGET_MODULES say, in collection order.

    (xdist's --dist loadgroup cannot be used: it renames test ids, which pytest 9 no
    longer lets a plugin do.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            if module in APART_MODULES:
                return nodeid
            return "shared-target" if module in SHARED_TARGET_MODULES else module

    config.option.loadscopereorder = False  # keep the order set above
    return ByModule(config, log)


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
    """One target shared by the whole session (each worker's own), SSH on 127.0.0.11:22
    (a worker's: the first address of its range, see targets.session_addresses)."""
    address = targets.shared_address()
    shared = _start(f"dlgr-target-{address.rsplit('.', 1)[1]}", address, ssh_key)
    yield shared
    targets.stop_target(shared)


@pytest.fixture
def make_target(testbed: None, ssh_key: Path) -> Iterator[Callable[..., Target]]:
    """Factory for throwaway targets on free loopback addresses, all removed after the test.

    `make(suite="bookworm")` gives a Debian 12 target instead of the default Debian 13.
    """
    started: list[Target] = []

    def make(suite: str = targets.SUITE) -> Target:
        address = targets.free_loopback_address()
        fresh = _start(f"dlgr-{suite}-{address.rsplit('.', 1)[1]}", address, ssh_key, suite)
        started.append(fresh)
        return fresh

    yield make
    for fresh in started:
        targets.stop_target(fresh)


@pytest.fixture
def fresh_target(make_target: Callable[[], Target]) -> Target:
    """A new target of its own for one test (the next free address of the session's range)."""
    return make_target()
