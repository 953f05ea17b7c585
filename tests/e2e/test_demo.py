"""`make demo` as a newcomer runs it: a fresh HOME, no server_pem, no saved servers.

examples/demo.py starts the rehearsal server (`dlgr-ansible local-server up`),
builds the sample experiment, deploys it and prints a URL; the test fetches that URL
as a browser would (name resolved to loopback, TLS verified against the rehearsal
server's CA). A second run updates the same app. Then the teardown commands the demo
prints leave nothing behind. The rehearsal container gets its own name and free
ports, so a rehearsal server of yours on this machine is left alone.
"""

import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from dlgr_ansible import server_settings
from tests.integration.conftest import BIN_DIR, REPO
from tests.testbed import targets

pytestmark = pytest.mark.e2e

CONTAINER = "dlgr-test-demo"


def run(
    argv: list[str], env: dict, timeout: float = 1800, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def fetch(url: str, cafile: Path) -> int:
    context = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, context=context, timeout=30) as response:  # noqa: S310
        return response.status


@pytest.fixture
def newcomer(tmp_path_factory, testbed):
    # Short, as a real HOME is: SSH's control sockets live under it (107 bytes at most).
    home = tmp_path_factory.mktemp("demo") / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{BIN_DIR}:{os.environ['PATH']}",
        "DLGR_LOCAL_CONTAINER": CONTAINER,
        "DLGR_LOCAL_SSH_PORT": str(targets.free_port()),
        "DLGR_LOCAL_HTTP_PORT": str(targets.free_port()),
        "DLGR_LOCAL_HTTPS_PORT": str(targets.free_port()),
    }
    yield home, env
    run([str(BIN_DIR / "dlgr-ansible"), "local-server", "down"], env)


def test_demo_serves_the_sample_experiment_then_tears_down(newcomer):
    home, env = newcomer
    first = run([sys.executable, "examples/demo.py"], env)
    assert first.returncode == 0, first.stdout + first.stderr[-4000:]
    assert "HTTP 200" in first.stdout
    assert "Dashboard password:" in first.stderr  # shown once, on the first deploy

    url = re.search(r"https://demo\.localhost:\d+/ad\?\S+", first.stdout).group(0)
    assert url.startswith(f"https://demo.localhost:{env['DLGR_LOCAL_HTTPS_PORT']}/")
    cafile = home / ".dallinger" / "dlgr-ansible" / "local" / "caddy-root.crt"
    assert fetch(url, cafile) == 200
    # The ad page shows the lab logo from the experiment's static folder (was a 404).
    origin = url.split("/", 3)[:3]
    assert fetch("/".join([*origin, "static/images/logo.png"]), cafile) == 200

    # The key made for the newcomer is configured for every later command.
    key = home / ".dallinger" / "dlgr-ansible" / "local" / "id_ed25519"
    assert f"server_pem = {key}" in (home / ".dallingerconfig").read_text()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    saved = json.loads((home / ".dallinger" / "docker-ssh" / "hosts" / "local").read_text())
    settings = {key: saved.pop(key) for key in list(saved) if key in server_settings.BY_KEY}
    assert saved == {
        "host": "local",
        "user": "dallinger",
        "port": int(env["DLGR_LOCAL_SSH_PORT"]),
        "https_port": int(env["DLGR_LOCAL_HTTPS_PORT"]),
        "address": "localhost",
    }
    # Offline, the stand-ins are settings of the server, kept out of Dallinger's files.
    assert settings == {} or settings["docker_caddy_image"] == "dlgr-ansible/caddy:2"
    dallinger_config = (home / ".dallingerconfig").read_text()
    assert not any(f"{key} =" in dallinger_config for key in server_settings.BY_KEY)
    known_as = f"[localhost]:{env['DLGR_LOCAL_SSH_PORT']}"
    assert known_as in (home / ".ssh" / "known_hosts").read_text()

    again = run([sys.executable, "examples/demo.py"], env)
    assert again.returncode == 0, again.stdout + again.stderr[-4000:]
    assert "Updating app demo" in again.stderr
    assert "HTTP 200" in again.stdout
    assert "Dashboard password:" not in again.stdout + again.stderr.replace(
        "Dashboard password: in", ""
    )

    teardown = re.findall(r"^\s+(\.venv/bin/dlgr-ansible .+)$", again.stdout, re.MULTILINE)
    assert [line.split()[1] for line in teardown] == ["destroy", "local-server"]
    for line in teardown:
        argv = shlex.split(line.replace(".venv/bin/", f"{BIN_DIR}/", 1))
        done = run(argv, env, timeout=600, cwd=home)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]

    status = run([str(BIN_DIR / "dlgr-ansible"), "local-server", "status", "--json"], env)
    assert json.loads(status.stdout) == {"state": "absent", "server": None}
    assert not (home / ".dallinger" / "docker-ssh" / "hosts" / "local").exists()
    assert known_as not in (home / ".ssh" / "known_hosts").read_text()
    volumes = targets._docker("volume", "ls", "--quiet").stdout.split()
    assert f"{CONTAINER}-docker" not in volumes
