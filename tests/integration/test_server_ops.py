"""apps, stats, logs, db-connections and set-dozzle-password against one provisioned target;
the views and the provision of several servers at once (that one, a bare one and one that
cannot be reached).

The app is made by hand, as the SSH user, in the layout deploy writes (design §4): a
compose project `demo1` under ~/dallinger/demo1 whose `web` service runs the PostgreSQL
stand-in image already on the server, and a Caddy site ~/dallinger/caddy.d/demo1.
"""

import json
import os
import signal
import subprocess
import time

import bcrypt
import pytest

from tests.integration.conftest import (
    BIN_DIR,
    Researcher,
    assert_clean_failure,
    new_researcher,
)
from tests.testbed import service_images, targets

pytestmark = pytest.mark.integration

SETTINGS = {
    "tls": "internal",
    "docker_postgresql_image": service_images.POSTGRES_IMAGE,
    "docker_caddy_image": service_images.CADDY_IMAGE,
    "docker_dozzle_image": service_images.DOZZLE_IMAGE,
}
DEMO_COMPOSE = f"""\
name: demo1
services:
  web:
    image: {service_images.POSTGRES_IMAGE}
    environment:
      POSTGRES_PASSWORD: demo
    networks:
      dallinger:
        aliases: [demo1_web]
networks:
  dallinger:
    external: true
"""
DEMO_SITE = (
    "# made by hand\n\ndemo1.stack.test {\n\ttls internal\n\treverse_proxy demo1_web:5000\n}\n"
)
DEMO = "docker compose -f dallinger/demo1/docker-compose.yml"


def as_user(target, command: str, **options) -> subprocess.CompletedProcess:
    return targets.exec_in(target, "runuser", "-l", "dallinger", "-c", command, **options)


@pytest.fixture(scope="module")
def person(tmp_path_factory, ssh_key) -> Researcher:
    return new_researcher(tmp_path_factory.mktemp("ops"), ssh_key, **SETTINGS)


@pytest.fixture(scope="module")
def server(testbed, ssh_key, person):
    """A provisioned target (Dozzle on) with the hand-made app demo1 running."""
    service_images.build_service_images()
    address = targets.free_loopback_address()
    target = targets.start_target(
        f"dlgr-ops-{address.rsplit('.', 1)[1]}", address, ssh_key.with_suffix(".pub").read_text()
    )
    try:
        added = person.run("servers", "add", "--host", address, "--user", "dallinger")
        assert added.returncode == 0, added.stderr
        provisioned = person.run("provision", "--dns-host", "stack.test")
        assert provisioned.returncode == 0, provisioned.stderr
        as_user(
            target,
            "mkdir -p dallinger/demo1 && cat > dallinger/demo1/docker-compose.yml",
            input=DEMO_COMPOSE,
            check=True,
        )
        as_user(target, "cat > dallinger/caddy.d/demo1", input=DEMO_SITE, check=True)
        as_user(target, f"{DEMO} up -d --wait", check=True)
        yield target
    finally:
        targets.stop_target(target)


def test_apps_lists_demo1_running_then_inactive(person, server):
    result, report = person.run_json("apps")
    assert result.returncode == 0, result.stderr
    assert report["ok"] is True
    assert report["apps"] == [
        {
            "name": "demo1",
            "state": "running",
            "url": "https://demo1.stack.test/",
            "image": service_images.POSTGRES_IMAGE,
            "server": server.address,
        }
    ]
    assert report["servers"] == {server.address: {"ok": True, "state": "ok", "error": ""}}
    assert "dlgr_apps" not in report  # the playbook's raw listing stays inside
    assert report["hosts"][server.address]["changed"] == 0

    table = person.run("apps")
    assert table.returncode == 0, table.stderr
    assert "demo1" in table.stdout
    assert "running" in table.stdout

    as_user(server, f"{DEMO} stop", check=True)
    try:
        result, report = person.run_json("apps")
        assert result.returncode == 0, result.stderr
        (demo1,) = report["apps"]
        assert demo1["state"] == "inactive"
        assert demo1["image"] == service_images.POSTGRES_IMAGE  # the stopped container's
        # No container left: the image is read from the compose file, by compose itself
        # (the target's Python has no PyYAML).
        assert as_user(server, "python3 -c 'import yaml'").returncode != 0
        as_user(server, f"{DEMO} down", check=True)
        result, report = person.run_json("apps")
        assert result.returncode == 0, result.stderr
        assert report["apps"][0]["state"] == "inactive"
        assert report["apps"][0]["image"] == service_images.POSTGRES_IMAGE
    finally:
        as_user(server, f"{DEMO} up -d --wait", check=True)


def test_stats_shows_the_containers(person, server):
    result, report = person.run_json("stats")
    assert result.returncode == 0, result.stderr
    names = {row["name"] for row in report["containers"]}
    assert {"demo1-web-1", "dallinger-postgresql-1", "dallinger-dozzle-1"} <= names
    assert all("/" in row["memory"] for row in report["containers"])

    table = person.run("stats")
    assert table.returncode == 0, table.stderr
    assert "demo1-web-1" in table.stdout


def test_stats_follow_streams_over_ssh(person, server):
    follow = subprocess.Popen(
        [str(BIN_DIR / "dlgr-ansible"), "stats", "--follow"],
        env=person.env,
        cwd=person.home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"demo1-web-1" not in seen and time.monotonic() < deadline:
            seen += os.read(follow.stdout.fileno(), 65536)
        assert b"demo1-web-1" in seen
    finally:
        follow.send_signal(signal.SIGINT)
        follow.communicate(timeout=30)


def test_logs_prints_the_service_output(person, server):
    result = person.run("logs", "--app", "demo1", "--tail", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert 1 <= len(lines) <= 3, result.stdout
    everything = person.run("logs", "--app", "demo1")
    assert "database system is ready" in everything.stdout

    assert_clean_failure(
        person.run("logs", "--app", "nope"), f"no app nope on {server.address}", "dlgr-ansible apps"
    )
    assert_clean_failure(
        person.run("logs", "--app", "nope", "--follow"), f"no app nope on {server.address}"
    )
    assert_clean_failure(person.run("logs", "--app", "demo1", "--service", "nope"), "nope")


def test_logs_follow_streams_over_ssh(person, server):
    follow = subprocess.Popen(
        [str(BIN_DIR / "dlgr-ansible"), "logs", "--app", "demo1", "--follow", "--tail", "1"],
        env=person.env,
        cwd=person.home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = follow.stdout.readline()
        assert first.strip(), follow.stderr.read() if follow.poll() is not None else first
        assert follow.poll() is None  # still following
    finally:
        follow.send_signal(signal.SIGINT)
        follow.communicate(timeout=30)


def test_db_connections_counts_per_database(person, server):
    # One open session in the database `dallinger`, as an app would hold one in its own.
    as_user(
        server,
        "docker exec -d dallinger-postgresql-1 psql -U dallinger -d dallinger -c 'select pg_sleep(60)'",
        check=True,
    )
    time.sleep(1)
    result, report = person.run_json("db-connections")
    assert result.returncode == 0, result.stderr
    connections = report["connections"]
    assert connections["databases"].get("dallinger", 0) >= 1, connections
    assert connections["max_connections"] > 0
    assert connections["total"] == sum(connections["databases"].values())

    table = person.run("db-connections")
    assert table.returncode == 0, table.stderr
    assert "dallinger" in table.stdout
    assert "max_connections" in table.stdout


def _users_hash(server) -> str:
    text = as_user(server, "cat dallinger/dozzle-users.yml", check=True).stdout
    (hashed,) = [line.split('"')[1] for line in text.splitlines() if "password:" in line]
    return hashed


def _dozzle_started(server) -> str:
    return as_user(
        server, "docker inspect -f '{{.State.StartedAt}}' dallinger-dozzle-1", check=True
    ).stdout


def test_set_dozzle_password_changes_it_once(person, server):
    password = "correct horse battery"
    saved = person.home / ".dallinger" / "dlgr-ansible" / server.address / "dozzle-password"
    before = _dozzle_started(server)

    result, report = person.run_json("set-dozzle-password", "--password", password)
    assert result.returncode == 0, result.stderr
    assert report["dozzle"]["changed"] is True
    assert report["hosts"][server.address]["changed"] > 0
    assert password not in result.stdout + result.stderr
    assert bcrypt.checkpw(password.encode(), _users_hash(server).encode())
    assert saved.read_text().strip() == password
    assert saved.stat().st_mode & 0o777 == 0o600
    mode_owner = as_user(server, "stat -c '%a %U' dallinger/dozzle-users.yml").stdout.strip()
    assert mode_owner == "600 dallinger"
    restarted = _dozzle_started(server)
    assert restarted != before
    assert (
        "Up"
        in as_user(server, "docker ps -f name=dallinger-dozzle-1 --format '{{.Status}}'").stdout
    )

    # Again, with the same password: a new salt, but the server's hash is kept.
    hashed = _users_hash(server)
    again = person.run("set-dozzle-password", "--password", password, "-v")
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr
    assert "changed=0" in again.stdout + again.stderr  # Ansible's own recap
    assert password not in again.stdout + again.stderr
    assert _users_hash(server) == hashed
    assert _dozzle_started(server) == restarted

    # The stack was stamped again with the new users file: a provision (as each deploy
    # runs it first) finds it as it left it and changes nothing.
    provisioned, report = person.run_json("provision", "--dns-host", "stack.test")
    assert provisioned.returncode == 0, provisioned.stderr
    assert report["hosts"][server.address]["changed"] == 0
    assert _dozzle_started(server) == restarted


def test_set_dozzle_password_needs_a_terminal_or_the_option(person, server):
    result = subprocess.run(
        [str(BIN_DIR / "dlgr-ansible"), "set-dozzle-password"],
        env=person.env,
        cwd=person.home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_clean_failure(result, "--password")


def test_views_of_several_servers_report_each_one_and_finish_the_others(person, server, ssh_key):
    """One run over three saved servers: the provisioned one, a bare one (no Docker yet),
    and one where nothing listens. Saved by hand, as `dallinger docker-ssh` saves them."""
    bare_address = targets.free_loopback_address()
    bare = targets.start_target(
        f"dlgr-ops-{bare_address.rsplit('.', 1)[1]}",
        bare_address,
        ssh_key.with_suffix(".pub").read_text(),
    )
    gone = targets.free_loopback_address()
    for address in (bare_address, gone):
        (person.hosts_dir() / address).write_text(
            json.dumps({"host": address, "user": "dallinger"})
        )
    try:
        result, report = person.run_json("apps", "--all")
        assert result.returncode == 1, result.stderr  # one server failed
        assert [(app["server"], app["name"]) for app in report["apps"]] == [
            (server.address, "demo1")
        ]
        assert report["servers"][server.address]["ok"] is True
        assert report["servers"][bare_address]["ok"] is True  # no apps, and it answered
        assert report["servers"][gone]["state"] == "unreachable"
        assert gone in report["servers"][gone]["error"]

        table = person.run("apps", "--server", server.address, "--server", gone)
        assert table.returncode == 1
        assert "demo1" in table.stdout
        assert "unreachable" in table.stdout
        assert gone in table.stderr
        assert "Traceback" not in table.stderr

        # The bare server has no Docker: stats fails there and is shown for the others.
        result, report = person.run_json(
            "stats", "--server", server.address, "--server", bare_address
        )
        assert result.returncode == 1
        assert report["servers"][bare_address]["state"] == "failed"
        assert {row["server"] for row in report["containers"]} == {server.address}

        result, report = person.run_json("servers", "check", "--all")
        assert result.returncode == 1
        assert sorted(report["dlgr_servers"]) == sorted([server.address, bare_address])
        assert report["servers"][gone]["state"] == "unreachable"

        result, report = person.run_json("db-connections", "--server", server.address)
        assert result.returncode == 0, result.stderr
        assert report["connections"]["max_connections"] > 0

        result, report = person.run_json("capacity", "--all")
        assert result.returncode == 1  # the one that cannot be reached
        busy, empty = report["capacity"][server.address], report["capacity"][bare_address]
        assert busy["apps_running"] == ["demo1"]
        assert busy["docker"] is True
        assert busy["docker_root"]
        assert empty["apps_running"] == []
        assert empty["docker"] is False
        assert busy["memory_total"] > 0
        assert busy["cpus"] > 0
        assert busy["disk_free"] > 0
        # A user not in the docker group (yet): the apps that run are counted all the same.
        targets.exec_in(server, "gpasswd", "-d", "dallinger", "docker", check=True)
        try:
            result, report = person.run_json("capacity", "--server", server.address)
        finally:
            targets.exec_in(server, "usermod", "-aG", "docker", "dallinger", check=True)
        assert result.returncode == 0, result.stderr
        assert report["capacity"][server.address]["apps_running"] == ["demo1"]

        # Provision of two servers in one run, each with its own saved settings (the
        # provisioned one's domain saved with it); the one that cannot be reached is
        # reported, and the other finishes.
        saved = person.run("servers", "set", "--server", server.address, "--dns-host", "stack.test")
        assert saved.returncode == 0, saved.stderr
        result, report = person.run_json("provision", "--server", server.address, "--server", gone)
        assert result.returncode == 1, result.stderr
        assert report["servers"][server.address]["ok"] is True
        # Its saved domain reached it: the Caddyfile still serves stack.test.
        assert "stack.test" in as_user(server, "cat dallinger/Caddyfile").stdout
        assert report["servers"][gone]["state"] == "unreachable"
        assert report["dozzle_by_server"] == {}  # the provisioned one keeps its password

        # A rule that leaves room for one app: demo1 fills the provisioned server, the
        # bare one has room. The refusal comes before the lock, and nothing is made.
        (person.hosts_dir() / gone).unlink()
        rule = str(busy["memory_total"] / 10**9 * 0.9)
        refused = person.run(
            "deploy",
            "--app",
            "newapp",
            "--image",
            "lab/never-pulled:1",
            "--dns-host",
            "localhost",
            "--server",
            server.address,
            "-c",
            "memory_per_app_gb",
            rule,
        )
        assert refused.returncode != 0
        assert f"{server.address} has no room for another app: 1 run (demo1)" in refused.stderr
        assert f"Servers with room: {bare_address} (1 more)" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert as_user(server, "test ! -e dallinger/newapp").returncode == 0
        assert "newapp" not in as_user(server, "cat dallinger/deploys.log || true").stdout

        # By the same rule, --server auto picks the bare server, the one with room; the
        # name then does not resolve, so nothing is deployed anywhere.
        auto = person.run(
            "deploy", "--app", "newapp", "--image", "lab/never-pulled:1",
            "--dns-host", "nowhere.invalid", "--server", "auto", "-c", "memory_per_app_gb", rule,
        )  # fmt: skip
        assert auto.returncode != 0
        assert f"--server auto: {bare_address}, room for 1 more app(s)" in auto.stderr
        assert "newapp.nowhere.invalid does not resolve" in auto.stderr
    finally:
        for address in (bare_address, gone):
            (person.hosts_dir() / address).unlink(missing_ok=True)
        targets.stop_target(bare)
