"""servers add + provision against fresh targets: converge, re-run, faults, adoption."""

import signal
import socket
import subprocess
import time
from pathlib import Path

import bcrypt
import pytest

from tests.integration.conftest import BIN_DIR, DALLINGER, assert_clean_failure
from tests.testbed import service_images, targets

pytestmark = pytest.mark.integration

STACK_SETTINGS = {
    "tls": "internal",
    "docker_postgresql_image": service_images.POSTGRES_IMAGE,
    "docker_caddy_image": service_images.CADDY_IMAGE,
    "docker_dozzle_image": "",
}


@pytest.fixture(scope="module")
def images():
    service_images.build_service_images()


@pytest.fixture
def server(researcher, make_target, images):
    """A fresh target saved with `servers add`, which installs Docker."""
    target = make_target()
    researcher.configure(**STACK_SETTINGS)
    added = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert added.returncode == 0, added.stderr
    return target


def as_user(target, command: str, **options) -> subprocess.CompletedProcess:
    """A shell command as the SSH user; options (input=, check=) go to exec_in."""
    return targets.exec_in(target, "runuser", "-l", "dallinger", "-c", command, **options)


def changed(report: dict, target) -> int:
    return report["hosts"][target.address]["changed"]


def https_status(target, host: str, path: str) -> int:
    """GET over the published port 443, verified against Caddy's own root CA."""
    context = targets.caddy_tls(target)
    with (
        socket.create_connection((target.address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return int(tls.recv(64).split()[1])


def postgres_login(target, password: str) -> int:
    """Log in as the superuser over the dallinger network, as apps connect."""
    return targets.exec_in(
        target,
        "docker",
        "exec",
        "-i",
        "dallinger-postgresql-1",
        "sh",
        "-c",
        'read -r PGPASSWORD; export PGPASSWORD; psql -h postgresql -U dallinger -d postgres -tAc "select 1"',
        input=password + "\n",
    ).returncode


def test_provision_converges_survives_interruption_and_reruns_clean(researcher, server):
    assert as_user(server, "docker compose version --short").stdout.startswith("2.")
    researcher.configure(docker_dozzle_image=service_images.DOZZLE_IMAGE)

    # Interrupted half-way (Ctrl-C), then finished by running it again.
    interrupted = subprocess.Popen(
        [str(BIN_DIR / "dlgr-ansible"), "provision", "--dns-host", "stack.test"],
        env=researcher.env,
        cwd=researcher.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(12)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=120)
    assert interrupted.returncode != 0
    assert b"Traceback" not in stderr
    assert b"Interrupted" in stderr
    assert list(researcher.tmp.iterdir()) == []  # no private dir, no image export left
    leftover = targets.exec_in(server, "pgrep", "-f", "ansible")  # nothing still running there
    assert leftover.stdout == ""

    result, report = researcher.run_json("provision", "--dns-host", "stack.test")
    assert result.returncode == 0, result.stderr
    assert report["ok"] is True

    # Dozzle's password: offered once, kept locally (even when the interrupted run set it).
    saved = researcher.home / ".dallinger" / "dlgr-ansible" / server.address / "dozzle-password"
    dozzle_password = saved.read_text().strip()
    assert saved.stat().st_mode & 0o777 == 0o600
    assert report.get("dozzle", {}).get("password", dozzle_password) == dozzle_password
    users = as_user(
        server, "stat -c '%a %U' dallinger/dozzle-users.yml; cat dallinger/dozzle-users.yml"
    )
    mode_owner, *users_file = users.stdout.splitlines()
    assert mode_owner == "600 dallinger"
    (hashed,) = [line.split('"')[1] for line in users_file if "password:" in line]
    assert bcrypt.checkpw(dozzle_password.encode(), hashed.encode())
    assert https_status(server, "logs.stack.test", "/") == 200

    result, report = researcher.run_json(
        "provision", "--dns-host", "stack.test", "--keep-artifacts"
    )
    assert result.returncode == 0, result.stderr
    assert changed(report, server) == 0
    assert "dozzle" not in report  # the server keeps its password
    artifacts = Path(report["artifacts"])

    assert https_status(server, "stack.test", "/health-check") == 200
    ps = as_user(server, "docker ps --format '{{.Names}} {{.Status}} {{.Ports}}'").stdout
    for service in ("postgresql", "httpserver", "dozzle"):
        assert f"dallinger-{service}-1 Up" in ps
    assert "unhealthy" not in ps
    assert "5432->" not in ps  # PostgreSQL publishes no port

    env_file = as_user(
        server, "stat -c '%a %U' dallinger/postgresql.env; cat dallinger/postgresql.env"
    ).stdout
    mode_owner, line = env_file.splitlines()
    assert mode_owner == "600 dallinger"
    password = line.removeprefix("POSTGRES_PASSWORD=")
    assert len(password) == 32
    assert postgres_login(server, password) == 0
    assert postgres_login(server, "dallinger") != 0
    assert password not in result.stdout + result.stderr
    leaked = [
        p for p in artifacts.rglob("*") if p.is_file() and password.encode() in p.read_bytes()
    ]
    assert leaked == []
    assert list(artifacts.glob("artifacts/*/job_events/*.json"))  # the events were kept

    not_owned = as_user(server, "find dallinger dallinger-data ! -user dallinger").stdout
    assert not_owned == ""


def test_images_push_sends_once(researcher, server):
    image = service_images.REDIS_IMAGE
    result, report = researcher.run_json("images", "push", image)
    assert result.returncode == 0, result.stderr
    assert changed(report, server) > 0
    local_id = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert as_user(server, f"docker image inspect -f '{{{{.Id}}}}' {image}").stdout == local_id
    result, report = researcher.run_json("images", "push", image)
    assert result.returncode == 0
    assert changed(report, server) == 0


def test_ports_taken_stop_before_anything_is_written(researcher, server):
    targets.exec_in(
        server, "systemd-run", "--unit=squatter", "python3", "-m", "http.server", "80", check=True
    )
    result = researcher.run("provision", "--dns-host", "stack.test")
    assert_clean_failure(result, "Ports 80 and 443", "python3")
    # Only the deploy lock (given back) and the history, which records the failed run.
    assert as_user(server, "ls -A dallinger").stdout.split() == ["deploy.lock", "deploys.log"]
    _, report = researcher.run_json("history")
    runs = [(run["command"], run["result"]) for run in report["history"]]
    assert runs == [("dlgr-ansible servers add", "succeeded"), ("dlgr-ansible provision", "failed")]


def test_data_of_another_postgresql_major_is_left_alone(researcher, server):
    as_user(server, "docker volume create dallinger_dallinger_pg_data >/dev/null")
    data = "/var/lib/docker/volumes/dallinger_dallinger_pg_data/_data"
    targets.exec_in(server, "sh", "-c", f"echo 12 > {data}/PG_VERSION", check=True)
    result = researcher.run("provision", "--dns-host", "stack.test")
    assert_clean_failure(result, "made by PostgreSQL 12", "cannot read it")
    assert targets.exec_in(server, "cat", f"{data}/PG_VERSION").stdout == "12\n"
    assert as_user(server, "docker ps -q").stdout == ""


def test_adopts_a_server_set_up_by_dallinger(researcher, server):
    """Dallinger 12.4's own compose file and password; apps and data survive provision."""
    template = DALLINGER.parent.parent.glob(
        "lib/python*/site-packages/dallinger/docker/ssh_templates/docker-compose-server.yml.j2"
    )
    text = next(template).read_text()
    # Their file as Dallinger renders it, with our offline stand-ins for its images and
    # without Dozzle (no image for it here).
    text = text.split("  dozzle:")[0] + "volumes:" + text.split("volumes:")[-1]
    text = text.replace("image: postgres:12", f"image: {service_images.POSTGRES_IMAGE}")
    text = text.replace("image: caddy:2", f"image: {service_images.CADDY_IMAGE}")
    for image in (service_images.POSTGRES_IMAGE, service_images.CADDY_IMAGE):
        assert researcher.run("images", "push", image).returncode == 0
    as_user(
        server, "mkdir -p dallinger/caddy.d && printf 'import caddy.d/*\\n' > dallinger/Caddyfile"
    )
    # Dallinger's #8743: Docker made the app's data folder, as root.
    targets.exec_in(
        server, "mkdir", "-p", "/home/dallinger/dallinger-data/app1/uploads", check=True
    )
    as_user(server, "cat > dallinger/docker-compose.yml", input=text, check=True)
    up = as_user(server, "cd dallinger && docker compose up -d --wait")
    assert up.returncode == 0, up.stderr
    sql = "CREATE DATABASE app1; \\c app1\nCREATE TABLE participant (id int); INSERT INTO participant VALUES (7);"
    seeded = targets.exec_in(
        server,
        "docker",
        "exec",
        "-i",
        "dallinger-postgresql-1",
        "psql",
        "-U",
        "dallinger",
        "-v",
        "ON_ERROR_STOP=1",
        input=sql,
    )
    assert seeded.returncode == 0, seeded.stderr
    assert postgres_login(server, "dallinger") == 0

    result = researcher.run("provision", "--dns-host", "stack.test")
    assert result.returncode == 0, result.stderr

    rows = targets.exec_in(
        server,
        "docker",
        "exec",
        "dallinger-postgresql-1",
        "psql",
        "-U",
        "dallinger",
        "-d",
        "app1",
        "-tAc",
        "select id from participant",
    )
    assert rows.stdout.strip() == "7"
    assert postgres_login(server, "dallinger") != 0
    password = (
        as_user(server, "cat dallinger/postgresql.env")
        .stdout.strip()
        .removeprefix("POSTGRES_PASSWORD=")
    )
    assert postgres_login(server, password) == 0
    assert as_user(server, "ls dallinger/docker-compose.yml.*~").returncode == 0  # their file, kept
    assert as_user(server, "find dallinger dallinger-data ! -user dallinger").stdout == ""


def test_app_served_from_the_main_caddyfile_is_not_taken_offline(researcher, server):
    """`dallinger docker-ssh deploy` without --app puts the app's site in the Caddyfile itself."""
    site = "exp.example.org {\n    tls internal\n    reverse_proxy dlgr-abc_web:5000\n}\n"
    as_user(server, "mkdir -p dallinger")
    as_user(server, "cat > dallinger/Caddyfile", input=site, check=True)
    result = researcher.run("provision", "--dns-host", "stack.test")
    assert_clean_failure(
        result, "serves an app at the domain itself", "reverse_proxy dlgr-abc_web:5000"
    )
    assert as_user(server, "cat dallinger/Caddyfile").stdout == site


def test_release_without_compose_v2_gets_a_clear_error(researcher, make_target):
    target = make_target(suite="bookworm")
    researcher.configure(docker_engine_source="distribution")
    result = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert_clean_failure(
        result, "Debian 12 has no compose v2 package", 'docker_engine_source to "official"'
    )
    assert not researcher.hosts_dir().exists()
