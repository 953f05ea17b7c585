"""The PostgreSQL, Caddy, Redis and pgbouncer stand-ins keep the official images' contracts.

Real containers on a private Docker network; clients run in containers of
their own, so every check crosses the network the way the roles' services do.
Nothing is published on the host.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testbed import targets
from tests.testbed.sandbox import (
    Sandbox,
    create_app_database,
    docker,
    image_config,
    start_pgbouncer,
    start_postgres,
    wait_until,
)
from tests.testbed.service_images import (
    CADDY_IMAGE,
    PGBOUNCER_IMAGE,
    POSTGRES_IMAGE,
    REDIS_IMAGE,
    build_service_images,
)

pytestmark = pytest.mark.integration

ROOT_CRT = "/data/caddy/pki/authorities/local/root.crt"
CADDY_CMD = ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]


@pytest.fixture(scope="session")
def service_images() -> list[str]:
    try:
        targets.ensure_docker()
        return build_service_images()
    except targets.TestbedError as exc:
        raise pytest.fail.Exception(f"service images unavailable: {exc}", pytrace=False) from None


@pytest.fixture
def sandbox(service_images: list[str]) -> Iterator[Sandbox]:
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()


def process_owner(container: str) -> str:
    """User name and command line of PID 1: proves exec and the privilege drop."""
    owner = docker("exec", container, "stat", "--format=%U", "/proc/1").stdout.strip()
    cmdline = docker("exec", container, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    return f"{owner}: {cmdline.strip()}"


# --- image metadata -----------------------------------------------------------------------


def test_postgres_image_config(service_images: list[str]) -> None:
    config = image_config(POSTGRES_IMAGE)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert config["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["Cmd"] == ["postgres"]
    assert config["StopSignal"] == "SIGINT"
    assert env["PG_MAJOR"] == "17"
    assert env["PG_VERSION"].startswith("17.")
    assert env["PGDATA"] == "/var/lib/postgresql/data"
    assert "/usr/lib/postgresql/17/bin" in env["PATH"].split(":")
    assert "5432/tcp" in config["ExposedPorts"]
    assert "/var/lib/postgresql/data" in config["Volumes"]


def test_caddy_image_config(service_images: list[str]) -> None:
    config = image_config(CADDY_IMAGE)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert not config.get("Entrypoint")
    assert config["Cmd"] == CADDY_CMD
    assert env["XDG_CONFIG_HOME"] == "/config"
    assert env["XDG_DATA_HOME"] == "/data"
    assert not config.get("User")  # root, as in the official image
    assert config["WorkingDir"] == "/srv"
    assert {"80/tcp", "443/tcp", "2019/tcp"} <= set(config["ExposedPorts"])


def test_redis_image_config(service_images: list[str]) -> None:
    config = image_config(REDIS_IMAGE)
    version = docker(
        "run", "--rm", *targets.label_flags(), REDIS_IMAGE, "redis-server", "--version"
    ).stdout
    major = version.split(" v=", 1)[1].split(".", 1)[0]  # "Redis server v=8.0.2 sha=..."
    assert REDIS_IMAGE.endswith(f":{major}")  # tagged by the major version inside
    assert config["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["Cmd"] == ["redis-server"]
    assert config["WorkingDir"] == "/data"
    assert "/data" in config["Volumes"]
    assert "6379/tcp" in config["ExposedPorts"]


def test_pgbouncer_image_config(service_images: list[str]) -> None:
    config = image_config(PGBOUNCER_IMAGE)
    assert config["Entrypoint"] == ["/entrypoint.sh"]
    assert config["Cmd"] == ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
    assert config["User"] == "postgres"
    assert "5432/tcp" in config["ExposedPorts"]
    version = docker(
        "run", "--rm", *targets.label_flags(), PGBOUNCER_IMAGE, "pgbouncer", "--version"
    ).stdout
    assert version.startswith(f"PgBouncer {PGBOUNCER_IMAGE.rsplit(':', 1)[1]}."), version


# --- PostgreSQL ---------------------------------------------------------------------------


def psql(sandbox: Sandbox, url: str, sql: str) -> subprocess.CompletedProcess[str]:
    """psql from another container (the same image as client), over TCP."""
    return sandbox.client(POSTGRES_IMAGE, "psql", url, "--no-psqlrc", "-Atc", sql)


def test_postgres_initialises_and_authenticates_over_tcp(sandbox: Sandbox) -> None:
    volume = sandbox.volume("pgdata")
    pg = start_postgres(sandbox, "pg", volume, "right-pw", "postgres", "-c", "max_connections=42")

    ready = sandbox.client(POSTGRES_IMAGE, "pg_isready", f"--host={pg}", "--port=5432")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "accepting connections" in ready.stdout

    ok = psql(
        sandbox,
        f"postgresql://dlgr:right-pw@{pg}/experiment",
        "SELECT current_user, current_database(), current_setting('max_connections'),"
        " pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "dlgr|experiment|42|UTF8"  # args reached `postgres`

    wrong = psql(sandbox, f"postgresql://dlgr:wrong-pw@{pg}/experiment", "SELECT 1")
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr

    hba = docker("exec", pg, "cat", "/var/lib/postgresql/data/pg_hba.conf").stdout
    assert hba.strip().splitlines()[-1] == "host all all all scram-sha-256"
    assert docker("exec", pg, "printenv", "PG_MAJOR").stdout.strip() == "17"
    assert process_owner(pg) == "postgres: postgres -c max_connections=42"


def test_postgres_restart_keeps_data_and_skips_init(sandbox: Sandbox, tmp_path: Path) -> None:
    volume = sandbox.volume("pgdata")
    seed = "CREATE TABLE seeded (n int); INSERT INTO seeded VALUES (1);\n"
    first = start_postgres(
        sandbox, "pg1", volume, "first-pw", init_files={"01-seed.sql": seed}, tmp_path=tmp_path
    )
    assert "running /docker-entrypoint-initdb.d/01-seed.sql" in docker("logs", first).stdout
    url = f"postgresql://dlgr:first-pw@{first}/experiment"
    assert psql(sandbox, url, "INSERT INTO seeded VALUES (2)").returncode == 0
    sandbox.remove(first)

    # Same volume, another password and init script: neither may be applied.
    second = start_postgres(
        sandbox, "pg2", volume, "second-pw", init_files={"01-seed.sql": seed}, tmp_path=tmp_path
    )
    logs = docker("logs", second)
    assert "Skipping initialization" in logs.stdout, logs.stdout + logs.stderr
    assert "initdb.d" not in logs.stdout

    kept = psql(
        sandbox,
        f"postgresql://dlgr:first-pw@{second}/experiment",
        "SELECT string_agg(n::text, ',' ORDER BY n) FROM seeded",
    )
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.strip() == "1,2"
    refused = psql(sandbox, f"postgresql://dlgr:second-pw@{second}/experiment", "SELECT 1")
    assert "password authentication failed" in refused.stderr


def test_postgres_refuses_to_initialise_without_password(service_images: list[str]) -> None:
    result = docker("run", "--rm", *targets.label_flags(), POSTGRES_IMAGE)
    assert result.returncode == 1
    assert "superuser password is not specified" in result.stderr


# --- Caddy --------------------------------------------------------------------------------


def site(text: str) -> str:
    return f'app.example.test {{\n\ttls internal\n\trespond "{text}"\n}}\n'


def test_caddy_serves_tls_internal_and_reloads(sandbox: Sandbox, tmp_path: Path) -> None:
    data = sandbox.volume("caddy-data")
    caddy = sandbox.create(
        "caddy",
        CADDY_IMAGE,
        volumes={data: "/data", sandbox.volume("caddy-config"): "/config"},
        aliases=("app.example.test",),
    )
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(site("hello v1"))
    targets._docker("cp", str(caddyfile), f"{caddy}:/etc/caddy/Caddyfile")
    targets._docker("start", caddy)

    def fetch(*extra: str) -> subprocess.CompletedProcess[str]:
        return sandbox.client(
            CADDY_IMAGE,
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "5",
            *extra,
            "https://app.example.test/",
            volumes={data: "/data:ro"},
        )

    verified = ("--cacert", ROOT_CRT)
    wait_until(lambda: fetch(*verified).stdout == "hello v1", "Caddy to serve HTTPS")
    unverified = fetch()  # the system store does not know Caddy's local CA
    assert unverified.returncode == 60, unverified.stdout + unverified.stderr
    assert process_owner(caddy) == f"root: {' '.join(CADDY_CMD)}"
    # The admin API answers on localhost:2019, as health checks written for the
    # official (Alpine, BusyBox wget) image expect.
    admin = docker("exec", caddy, "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:2019/config/")
    assert admin.returncode == 0, admin.stderr

    docker("exec", "--interactive", caddy, "tee", "/etc/caddy/Caddyfile", input=site("hello v2"))
    reload = docker("exec", caddy, "caddy", "reload", "--config", "/etc/caddy/Caddyfile")
    assert reload.returncode == 0, reload.stderr
    wait_until(lambda: fetch(*verified).stdout == "hello v2", "the reloaded Caddyfile", 15)


# --- Redis --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [(), ("redis-server", "--appendonly", "yes")],
    ids=["default", "appendonly-override"],
)
def test_redis_accepts_other_containers(sandbox: Sandbox, command: tuple[str, ...]) -> None:
    redis = sandbox.run("redis", REDIS_IMAGE, *command, volumes={sandbox.volume("redis"): "/data"})
    wait_until(
        lambda: docker("exec", redis, "redis-cli", "ping").stdout.strip() == "PONG",
        f"Redis in {redis}",
    )

    remote = sandbox.client(REDIS_IMAGE, "redis-cli", "-h", redis, "ping")
    assert remote.stdout.strip() == "PONG", remote.stdout + remote.stderr  # not DENIED
    stored = sandbox.client(REDIS_IMAGE, "redis-cli", "-h", redis, "set", "k", "v")
    assert stored.stdout.strip() == "OK", stored.stdout + stored.stderr

    assert process_owner(redis).startswith("redis: redis-server")
    appendonly = docker("exec", redis, "redis-cli", "config", "get", "appendonly").stdout.split()
    if command:
        assert appendonly == ["appendonly", "yes"]
        files = docker("exec", redis, "ls", "/data/appendonlydir").stdout.split()
        assert any(name.endswith(".incr.aof") for name in files), files
    else:
        assert appendonly == ["appendonly", "no"]


# --- pgbouncer ----------------------------------------------------------------------------


def test_pgbouncer_pools_for_an_arbitrary_uid(sandbox: Sandbox, tmp_path: Path) -> None:
    pg = start_postgres(sandbox, "pg", sandbox.volume("pgdata"), "super-pw")
    create_app_database(pg, "exp1", "app-pw")

    # PostgreSQL 17 stores SCRAM secrets; pgbouncer, holding the plain-text
    # password, authenticates to it with SCRAM whatever it asks of its clients.
    for auth_type in ("scram-sha-256", "md5"):
        stem = f"pgb-{auth_type[:3]}"
        pgb = start_pgbouncer(
            sandbox,
            stem,
            tmp_path / stem,
            backend=pg,
            app="exp1",
            password="app-pw",
            auth_type=auth_type,
        )
        url = f"postgresql://exp1:app-pw@{pgb}/exp1"
        ok = psql(
            sandbox,
            url,
            "CREATE TABLE IF NOT EXISTS t (n int); INSERT INTO t VALUES (1);"
            " SELECT current_user, current_database(), count(*) FROM t",
        )
        assert ok.returncode == 0, f"{auth_type}: {ok.stderr}\n{docker('logs', pgb).stderr}"
        assert ok.stdout.strip().splitlines()[-1].startswith("exp1|exp1|"), ok.stdout

        wrong = psql(sandbox, f"postgresql://exp1:wrong-pw@{pgb}/exp1", "SELECT 1")
        assert wrong.returncode != 0
        # pgbouncer's own refusal: "SASL authentication failed" (SCRAM) or
        # "password authentication failed" (md5).
        assert "authentication failed" in wrong.stderr, wrong.stderr

        assert docker("exec", pgb, "id", "-u").stdout.strip() == "1000"
        assert process_owner(pgb).endswith(": pgbouncer /etc/pgbouncer/pgbouncer.ini")
        # Pitfall for health checks: without -U (or PGUSER) libpq needs a passwd
        # entry for the current uid, and pg_isready gives up ("no attempt", 3).
        bare = docker("exec", pgb, "pg_isready", "-h", "127.0.0.1", "-p", "5432")
        assert bare.returncode == 3, bare.stdout + bare.stderr


def test_pgbouncer_refuses_to_start_without_a_config(service_images: list[str]) -> None:
    result = docker("run", "--rm", *targets.label_flags(), PGBOUNCER_IMAGE)
    assert result.returncode == 1
    assert "/etc/pgbouncer/pgbouncer.ini is missing" in result.stderr
