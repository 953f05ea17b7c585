"""PsyNet experiments: recognised by the psynet line of their requirements.txt, prepared
by PsyNet's own code (dlgr_ansible.psynet_prepare, run in the experiment's environment,
which needs `pip install 'dlgr-ansible[psynet]'`) against a PostgreSQL and a Redis that
run on this machine's Docker for the duration, as `psynet deploy ssh` needs local ones."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from dlgr_ansible.errors import DlgrError

EXTRA = "pip install 'dlgr-ansible[psynet]'"
# Where PsyNet's containers find the assets (its config default docker_volumes mounts
# ~/psynet-data/assets there), and the server folder, below the SSH user's home.
ASSETS_MOUNT = "/psynet-data/assets"
ASSETS_FOLDER = "psynet-data/assets"
# The roles' defaults (dallinger_server's PostgreSQL major, dallinger_app's Redis); the
# config keys that replace them on the server replace them here too.
POSTGRES_IMAGE = "postgres:17"
REDIS_IMAGE = "redis:8"
SERVICES_TIMEOUT = 60
# What PsyNet's preparation leaves in the experiment directory, removed after the build
# as `psynet deploy ssh` removes it.
LEFT_BY_PREPARATION = (".deploy", "source_code.zip")
_REQUIREMENT = re.compile(
    r"^\s*(psynet\s*([=<>!~@\[;]|$)|(-e\s+|--editable\s+)?git\+\S+#egg=psynet(\[|&|\s|$))",
    re.IGNORECASE,
)


class PreparationProblem(DlgrError):
    """PsyNet's preparation did not complete."""


def is_psynet_experiment(directory: Path) -> bool:
    requirements = directory / "requirements.txt"
    if not requirements.is_file():
        return False
    lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
    return any(_REQUIREMENT.match(line) for line in lines)


def uses_psynet_assets(volumes: list[str]) -> bool:
    """A config whose docker_volumes mount PsyNet's asset folder (PsyNet's default)."""
    return any(volume.split(":")[1:2] == [ASSETS_MOUNT] for volume in volumes)


def prepare(
    directory: Path,
    *,
    app: str,
    mode: str,
    server_host: str,
    user: str,
    staging: Path,
    postgres_image: str | None,
    redis_image: str | None,
    log,
) -> None:
    """PsyNet's preparation of `directory` for `app`: .deploy/ and source_code.zip there,
    the asset files under `staging`/psynet-data/assets. Raises PreparationProblem."""
    with local_services(postgres_image or POSTGRES_IMAGE, redis_image or REDIS_IMAGE) as env:
        log("Preparing the experiment with PsyNet")
        command = [
            sys.executable,
            "-m",
            "dlgr_ansible.psynet_prepare",
            f"--app={app}",
            f"--mode={mode}",
            f"--server={server_host}",
            f"--user={user}",
            f"--staging={staging}",
        ]
        # stdin closed: a question PsyNet asks is answered "no", never waited for.
        done = subprocess.run(
            command,
            cwd=directory,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        clean_directory(directory)
        said = _last_lines(done.stderr or done.stdout)
        if "No module named 'psynet'" in said or "No module named dlgr_ansible" in said:
            raise PreparationProblem(
                f"{directory} is a PsyNet experiment, and PsyNet cannot be imported here. "
                f"Install it in the experiment's environment ({EXTRA}, and its "
                "requirements.txt), then deploy again."
            )
        raise PreparationProblem(
            f"PsyNet's preparation of {directory} stopped; nothing was changed on the "
            f"server. PsyNet said:\n{said}"
        )


def assets_to_send(staging: Path, update: bool) -> Path:
    """The staged asset folder, for the server's ~/psynet-data/assets. An update leaves
    out the experiment's own assets (experiments/<deployment id>/): PsyNet registers
    assets in the database only at /launch, which an update does not run, so the app
    keeps using the ones its first deploy sent, and these would only pile up."""
    assets = staging / ASSETS_FOLDER
    if update:
        shutil.rmtree(assets / "experiments", ignore_errors=True)
    assets.mkdir(parents=True, exist_ok=True)
    return assets


def clean_directory(directory: Path) -> None:
    for name in LEFT_BY_PREPARATION:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _last_lines(output: str, count: int = 15) -> str:
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-count:]) or "(nothing)"


@contextlib.contextmanager
def local_services(postgres_image: str, redis_image: str) -> Iterator[dict[str, str]]:
    """A PostgreSQL and a Redis on the local Docker, published on 127.0.0.1 only, removed
    afterwards; yields DATABASE_URL and REDIS_URL for them."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise PreparationProblem(
            "PsyNet's preparation needs a PostgreSQL and a Redis, which dlgr-ansible runs "
            f"on this machine's Docker, and Docker cannot be reached ({exc}). Start Docker, "
            "then deploy again."
        ) from None
    password = secrets.token_hex(16)
    started = []
    try:
        postgres = _start(
            client,
            postgres_image,
            "docker_postgresql_image",
            started,
            environment={
                "POSTGRES_USER": "dallinger",
                "POSTGRES_PASSWORD": password,
                "POSTGRES_DB": "dallinger",
            },
            port="5432/tcp",
        )
        redis = _start(client, redis_image, "docker_redis_image", started, port="6379/tcp")
        _wait(postgres, ["pg_isready", "-h", "127.0.0.1", "-U", "dallinger"], "PostgreSQL")
        _wait(redis, ["redis-cli", "ping"], "Redis")
        yield {
            "DATABASE_URL": f"postgresql://dallinger:{password}@127.0.0.1:"
            f"{_published(postgres, '5432/tcp')}/dallinger",
            "REDIS_URL": f"redis://127.0.0.1:{_published(redis, '6379/tcp')}",
        }
    finally:
        for container in started:
            with contextlib.suppress(DockerException):
                container.remove(force=True, v=True)


def _start(client, image: str, key: str, started: list, port: str, environment=None):
    try:
        client.images.get(image)
    except ImageNotFound:
        try:
            client.images.pull(image)
        except DockerException as exc:
            raise PreparationProblem(
                f"PsyNet's preparation needs {image} on this machine's Docker, and it cannot "
                f"be pulled ({exc}). Pull it, or name an image you have with the config "
                f"key {key}."
            ) from None
    container = client.containers.run(
        image,
        detach=True,
        environment=environment or {},
        ports={port: ("127.0.0.1", None)},
        labels={"dlgr-ansible": "psynet-preparation"},
    )
    started.append(container)
    return container


def _wait(container, check: list[str], what: str) -> None:
    deadline = time.monotonic() + SERVICES_TIMEOUT
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            break
        if container.exec_run(check).exit_code == 0:
            return
        time.sleep(0.25)
    raise PreparationProblem(
        f"The local {what} for PsyNet's preparation did not start within "
        f"{SERVICES_TIMEOUT} s. Its log ends:\n{_last_lines(container.logs().decode())}"
    )


def _published(container, port: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"]
