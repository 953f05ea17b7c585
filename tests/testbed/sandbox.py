"""Throwaway containers of the service stand-ins on a private Docker network.

Helpers of the test bed's own tests (test_service_images.py, test_experiment_image.py):
every container, volume and network is labelled dlgr-test=1 and removed by `close`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.testbed import targets
from tests.testbed.service_images import PGBOUNCER_IMAGE, POSTGRES_IMAGE


def docker(
    *args: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`docker ...` that never raises on a non-zero exit (tests assert on it)."""
    return targets._docker(*args, input=input, check=False, timeout=timeout)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Sandbox:
    """A private network plus the containers and volumes a test makes on it (all labelled)."""

    def __init__(self) -> None:
        self.suffix = secrets.token_hex(3)
        self.network = f"dlgr-svc-{self.suffix}"
        self.containers: list[str] = []
        self.volumes: list[str] = []
        targets._docker("network", "create", *targets.label_flags(), self.network)

    def volume(self, stem: str) -> str:
        name = f"dlgr-svc-{stem}-{self.suffix}"
        self.volumes.append(name)
        targets._docker("volume", "create", *targets.label_flags(), name)
        return name

    def create(
        self,
        stem: str,
        image: str,
        *command: str,
        env: dict[str, str] | None = None,
        volumes: dict[str, str] | None = None,
        aliases: tuple[str, ...] = (),
        options: tuple[str, ...] = (),
    ) -> str:
        """Create (not start) a container reachable on the network as its name and `aliases`.

        `volumes` maps named volumes or host paths to container paths (":ro" allowed);
        `options` are further `docker create` options (e.g. --user, --read-only).
        """
        name = f"dlgr-svc-{stem}-{self.suffix}"
        options = (
            f"--name={name}",
            *targets.label_flags(),
            f"--network={self.network}",
            *options,
        )
        options += tuple(f"--network-alias={alias}" for alias in aliases)
        options += tuple(f"--env={key}={value}" for key, value in (env or {}).items())
        options += tuple(f"--volume={vol}:{path}" for vol, path in (volumes or {}).items())
        self.containers.append(name)  # first: removed even if `create` fails halfway
        targets._docker("create", *options, image, *command)
        return name

    def run(self, stem: str, image: str, *command: str, **kwargs: Any) -> str:
        name = self.create(stem, image, *command, **kwargs)
        targets._docker("start", name)
        return name

    def client(
        self, image: str, *argv: str, volumes: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in a throwaway container of `image` on the network."""
        mounts = [f"--volume={vol}:{path}" for vol, path in (volumes or {}).items()]
        return docker(
            "run",
            "--rm",
            *targets.label_flags(),
            f"--network={self.network}",
            *mounts,
            image,
            *argv,
        )

    def remove(self, container: str) -> None:
        """Stop `container` with its STOPSIGNAL and remove it (its named volumes stay)."""
        docker("stop", "--time=20", container)
        docker("rm", "--force", container)

    def close(self) -> None:
        if self.containers:
            docker("rm", "--force", "--volumes", *self.containers)
        if self.volumes:
            docker("volume", "rm", "--force", *self.volumes)
        docker("network", "rm", self.network)


def image_config(image: str) -> dict[str, Any]:
    return json.loads(
        targets._docker("image", "inspect", "--format={{json .Config}}", image).stdout
    )


# --- PostgreSQL ---------------------------------------------------------------------------


def start_postgres(
    sandbox: Sandbox,
    stem: str,
    volume: str,
    password: str,
    *command: str,
    init_files: dict[str, str] | None = None,
    tmp_path: Path | None = None,
) -> str:
    env = {"POSTGRES_USER": "dlgr", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "experiment"}
    name = sandbox.create(
        stem, POSTGRES_IMAGE, *command, env=env, volumes={volume: "/var/lib/postgresql/data"}
    )
    for filename, text in (init_files or {}).items():
        assert tmp_path is not None
        source = tmp_path / filename
        source.write_text(text)
        source.chmod(0o644)
        targets._docker("cp", str(source), f"{name}:/docker-entrypoint-initdb.d/{filename}")
    targets._docker("start", name)
    # TCP only: during init the temporary server listens on the socket alone.
    wait_until(
        lambda: (
            docker("exec", name, "pg_isready", "--host=127.0.0.1", "--timeout=2").returncode == 0
        ),
        f"PostgreSQL in {name}",
    )
    return name


# --- pgbouncer ----------------------------------------------------------------------------

# The roles' pgbouncer.ini: one database, TCP only, no pidfile or logfile.
PGBOUNCER_INI = """\
[databases]
{app} = host={backend} port=5432 dbname={app}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 5432
unix_socket_dir =
auth_type = {auth_type}
auth_file = /etc/pgbouncer/userlist.txt
pool_mode = transaction
"""
PGBOUNCER_UID = "1000:1000"  # like the SSH user's uid:gid: no passwd entry in the image


def create_app_database(postgres: str, app: str, password: str) -> None:
    """A login role that owns its database, as PostgreSQL 15+ needs for schema public."""
    targets._docker(
        "exec",
        postgres,
        "psql",
        "--username=dlgr",
        "--dbname=postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        f"CREATE ROLE \"{app}\" LOGIN PASSWORD '{password}'",
        "-c",
        f'CREATE DATABASE "{app}" OWNER "{app}"',
    )


def start_pgbouncer(
    sandbox: Sandbox,
    stem: str,
    config_dir: Path,
    *,
    backend: str,
    app: str,
    password: str,
    auth_type: str = "scram-sha-256",
    aliases: tuple[str, ...] = (),
) -> str:
    """pgbouncer as the roles run it: our files mounted read-only, an arbitrary uid."""
    config_dir.mkdir(parents=True, exist_ok=True)
    ini = config_dir / "pgbouncer.ini"
    ini.write_text(PGBOUNCER_INI.format(app=app, backend=backend, auth_type=auth_type))
    userlist = config_dir / "userlist.txt"
    userlist.write_text(f'"{app}" "{password}"\n')  # plain text, as the roles write it
    for path in (ini, userlist):
        path.chmod(0o644)
    name = sandbox.run(
        stem,
        PGBOUNCER_IMAGE,
        volumes={
            str(ini): "/etc/pgbouncer/pgbouncer.ini:ro",
            str(userlist): "/etc/pgbouncer/userlist.txt:ro",
        },
        aliases=aliases,
        # --read-only: proves that nothing is written, so any uid works.
        options=(f"--user={PGBOUNCER_UID}", "--read-only"),
    )
    # The health check the roles use; -U because libpq cannot name uid 1000 itself.
    wait_until(
        lambda: (
            docker(
                "exec", name, "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", app
            ).returncode
            == 0
        ),
        f"pgbouncer in {name}",
        20,
    )
    return name
