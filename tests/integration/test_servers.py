"""servers add/list/check/remove and the failure paths, against real SSH targets."""

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.integration.conftest import BIN_DIR, DALLINGER, REPO, assert_clean_failure
from tests.testbed import targets

pytestmark = pytest.mark.integration


def test_add_check_list_remove(researcher, target):
    result, report = researcher.run_json(
        "servers", "add", "--host", target.address, "--user", "dallinger"
    )
    assert result.returncode == 0, result.stderr
    assert report["ok"] is True
    assert report["saved"] is True
    stats = report["hosts"][target.address]
    assert stats["failed"] == stats["unreachable"] == 0
    assert stats["ok"] >= 3
    server = report["dlgr_servers"][target.address]
    assert server["os"].startswith("Debian GNU/Linux 13"), server
    assert server["sudo"] is True
    assert server["user"] == "dallinger"

    stored = researcher.hosts_dir() / target.address
    assert json.loads(stored.read_text()) == {"host": target.address, "user": "dallinger"}
    known_hosts = researcher.home / ".ssh" / "known_hosts"
    trusted = subprocess.run(["ssh-keygen", "-F", target.address, "-f", known_hosts], check=False)
    assert trusted.returncode == 0  # trusted on first use

    listed = researcher.run("servers", "list")
    assert listed.returncode == 0
    assert target.address in listed.stdout
    theirs = researcher.dallinger("docker-ssh", "servers", "list")
    assert theirs.returncode == 0, theirs.stderr
    assert f"host: {target.address}, user: dallinger" in theirs.stdout

    # Nothing to change on a check; the private data dir is gone afterwards.
    result, report = researcher.run_json("servers", "check")
    assert result.returncode == 0, result.stderr
    assert report["hosts"][target.address]["changed"] == 0
    assert list(researcher.tmp.iterdir()) == []

    removed = researcher.run("servers", "remove", "--host", target.address)
    assert removed.returncode == 0
    assert not stored.exists()


def test_dallinger_still_loads_its_config_after_the_readmes_setup(researcher, target, tmp_path):
    """Server settings live with the server, so Dallinger 12.4's strict loading of
    ~/.dallingerconfig and config.txt (it refuses keys it does not know) keeps working."""
    result = researcher.run(
        "servers", "add", "--host", target.address, "--user", "dallinger",
        "--tls", "internal", "--dns-host", "lab.example.org",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads((researcher.hosts_dir() / target.address).read_text())
    assert record == {
        "host": target.address,
        "user": "dallinger",
        "tls": "internal",
        "dns_host": "lab.example.org",
    }
    assert "Warning" not in result.stderr
    experiment = tmp_path / "hello"
    shutil.copytree(REPO / "examples" / "hello", experiment)
    loaded = dallinger_loads_its_config(researcher, experiment)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == researcher.configured("server_pem")
    assert target.address in researcher.dallinger("docker-ssh", "servers", "list").stdout

    # The old way, a server setting in ~/.dallingerconfig: Dallinger refuses its config,
    # and this tool still uses the setting but says what to do.
    with (researcher.home / ".dallingerconfig").open("a") as config:
        config.write("docker_engine_source = distribution\n")
    refused = dallinger_loads_its_config(researcher, experiment)
    assert "docker_engine_source is not a valid configuration key" in refused.stderr
    checked = researcher.run("servers", "check", "--server", target.address)
    assert checked.returncode == 0, checked.stderr
    assert "Server settings found in Dallinger's config files" in checked.stderr
    assert "servers set --docker-source VALUE" in checked.stderr


def dallinger_loads_its_config(researcher, experiment) -> subprocess.CompletedProcess:
    load = "from dallinger.config import get_config; c = get_config(); c.load(); print(c.get('server_pem'))"
    return subprocess.run(
        [str(DALLINGER.parent / "python"), "-c", load],
        env=researcher.env,
        cwd=experiment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_readable_progress_without_a_terminal(researcher, target):
    researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    result = researcher.run("servers", "check")
    assert result.returncode == 0, result.stderr
    for line in ("Checking", "Log in over SSH and read the user", "done in", target.address):
        assert line in result.stderr
    assert result.stdout == ""


def test_wrong_key_is_refused_and_nothing_saved(researcher, target, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    researcher.use_key(other)
    result = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert_clean_failure(result, f"refused the SSH key {other}", "authorized_keys")
    assert not researcher.hosts_dir().exists()


def test_world_readable_key(researcher, target, tmp_path, ssh_key):
    loose = tmp_path / "loose_key"
    shutil.copy(ssh_key, loose)
    loose.chmod(0o644)
    researcher.use_key(loose)
    result = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert_clean_failure(result, f"chmod 600 {loose}")


def test_unreachable_host(researcher):
    result = researcher.run("servers", "add", "--host", "127.0.0.254", "--user", "dallinger")
    assert_clean_failure(result, "Cannot reach 127.0.0.254", "Connection refused")
    assert not researcher.hosts_dir().exists()


def test_user_without_sudo(researcher, target):
    result, report = researcher.run_json(
        "servers", "add", "--host", target.address, "--user", "nosudo"
    )
    assert_clean_failure(result, "No passwordless sudo rights for nosudo", "NOPASSWD")
    assert report["ok"] is False
    assert report["saved"] is False
    assert report["hosts"][target.address]["failed"] == 1
    assert not researcher.hosts_dir().exists()


def test_changed_host_key_stops_with_advice(researcher, fresh_target, ssh_key):
    address = fresh_target.address
    assert (
        researcher.run("servers", "add", "--host", address, "--user", "dallinger").returncode == 0
    )
    targets.stop_target(fresh_target)
    replacement = targets.start_target(
        "dlgr-replacement", address, ssh_key.with_suffix(".pub").read_text()
    )
    try:
        result = researcher.run("servers", "check")
        assert_clean_failure(result, "host key of", f"ssh-keygen -R {address}")
    finally:
        targets.stop_target(replacement)


def test_live_progress_on_a_terminal(researcher, target):
    researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    primary, secondary = os.openpty()
    process = subprocess.Popen(
        [str(BIN_DIR / "dlgr-ansible"), "servers", "check"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=dict(researcher.env, TERM="xterm-256color", COLUMNS="100"),
        cwd=researcher.home,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=120) == 0
    raw = b"".join(chunks).decode(errors="replace")
    assert "\x1b[1A" in raw  # redrawn in place (cursor up), i.e. live
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    for text in ("Checking", "Log in over SSH and read the user", "changed", "done in"):
        assert text in screen, screen
