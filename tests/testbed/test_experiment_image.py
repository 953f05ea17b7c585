"""The test bed's Dallinger experiment image runs a real experiment, without Ansible.

The services are wired the way `dallinger docker-ssh deploy` (and the roles)
wire them, on a private Docker network of the host's engine: the PostgreSQL
stand-in, a login role that owns its database, pgbouncer in transaction mode
in front of it, Redis with `--appendonly yes`, and the experiment containers
running as an arbitrary uid with the server's environment. HTTP requests come
from inside the web container; nothing is published on the host.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.testbed import targets
from tests.testbed.experiment_image import EXPERIMENT_IMAGES, build_experiment_images
from tests.testbed.sandbox import (
    PGBOUNCER_UID,
    Sandbox,
    create_app_database,
    docker,
    image_config,
    start_pgbouncer,
    start_postgres,
    wait_until,
)
from tests.testbed.service_images import REDIS_IMAGE, build_service_images

pytestmark = pytest.mark.integration

APP = "exp1"
APP_PASSWORD = "exp1-db-pw"
COMMANDS = (
    "dallinger_heroku_web",
    "dallinger_heroku_worker",
    "dallinger_heroku_clock",
    "dallinger-housekeeper",
)
# GET or POST a URL from inside a container; prints {"status": ..., "body": ...}.
HTTP_CLIENT = """
import json, sys, urllib.error, urllib.request
method, url = sys.argv[1:3]
request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        status, body = response.status, response.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
print(json.dumps({"status": status, "body": body.decode(errors="replace")}))
"""


@pytest.fixture(scope="module")
def images() -> tuple[str, str]:
    try:
        targets.ensure_docker()
        build_service_images()
        return build_experiment_images()
    except targets.TestbedError as exc:
        raise pytest.fail.Exception(f"test images unavailable: {exc}", pytrace=False) from None


@dataclass
class Stack:
    sandbox: Sandbox
    postgres: str
    env: dict[str, str]
    logfile: Path

    def experiment(self, stem: str, image: str, command: str) -> str:
        """Start an experiment container as the roles do (arbitrary uid, server env)."""
        return self.sandbox.run(
            stem,
            image,
            command,
            env=self.env,
            # Dallinger appends JSON logs to /experiment/logs.jsonl; the server
            # touches that file and mounts it writable for the SSH user.
            volumes={str(self.logfile): "/experiment/logs.jsonl"},
            options=(f"--user={PGBOUNCER_UID}",),
        )

    def psql(self, sql: str) -> str:
        proc = docker("exec", self.postgres, "psql", "-U", "dlgr", "-d", APP, "-Atc", sql)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()


@pytest.fixture(scope="module")
def stack(images: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("experiment")
    box = Sandbox()
    try:
        pg = start_postgres(box, "exp-pg", box.volume("exp-pgdata"), "super-pw")
        create_app_database(pg, APP, APP_PASSWORD)
        start_pgbouncer(
            box,
            "exp-pgb",
            tmp / "pgbouncer",
            backend=pg,
            app=APP,
            password=APP_PASSWORD,
            aliases=(f"{APP}_pgbouncer",),
        )
        redis = box.run(
            "exp-redis",
            REDIS_IMAGE,
            "redis-server",
            "--appendonly",
            "yes",
            volumes={box.volume("exp-redis"): "/data"},
            aliases=(f"{APP}_redis",),
        )
        wait_until(
            lambda: docker("exec", redis, "redis-cli", "ping").stdout.strip() == "PONG",
            "Redis",
            20,
        )
        logfile = tmp / "logs.jsonl"
        logfile.touch()
        uid, gid = (int(n) for n in PGBOUNCER_UID.split(":"))
        if os.geteuid() == 0:
            os.chown(logfile, uid, gid)
        else:
            logfile.chmod(0o666)
        # What docker-ssh puts in the compose file's environment (the config keys
        # are a selection: those this experiment needs, plus a few always sent).
        env = {
            "HOME": "/tmp",
            "HOST": "0.0.0.0",  # noqa: S104 (inside the container, as docker-ssh sets it)
            "PORT": "5000",
            "DATABASE_URL": f"postgresql://{APP}:{APP_PASSWORD}@{APP}_pgbouncer/{APP}",
            "REDIS_URL": f"redis://{APP}_redis:6379",
            "FLASK_SECRET_KEY": "testbed-secret",
            "DALLINGER_UID": str(uuid.uuid4()),
            "id": APP,
            "mode": "sandbox",
            "recruiter": "hotair",
            "auto_recruit": "false",
            "dashboard_user": "admin",
            "dashboard_password": "dashboard-pw",
        }
        yield Stack(sandbox=box, postgres=pg, env=env, logfile=logfile)
    finally:
        box.close()


def http(container: str, method: str, path: str) -> tuple[int, str]:
    proc = docker(
        "exec", container, "python3", "-c", HTTP_CLIENT, method, f"http://127.0.0.1:5000{path}"
    )
    if proc.returncode != 0:
        return 0, proc.stderr  # not listening yet, or the container is gone
    reply = json.loads(proc.stdout)
    return reply["status"], reply["body"]


def wait_for_web(container: str) -> None:
    def serving() -> bool:
        if docker("inspect", "--format={{.State.Running}}", container).stdout.strip() != "true":
            logs = docker("logs", "--tail=30", container)
            raise AssertionError(f"{container} exited:\n{logs.stdout}{logs.stderr}")
        return http(container, "GET", "/testbed/version")[0] == 200

    wait_until(serving, f"dallinger_heroku_web in {container}", 60)


def test_image_layout(images: tuple[str, str]) -> None:
    assert images == EXPERIMENT_IMAGES
    for version, image in zip(("1", "2"), images, strict=True):
        config = image_config(image)
        assert config["WorkingDir"] == "/experiment"
        assert config["Cmd"] == ["dallinger_heroku_web"]
        assert config["Labels"]["org.dallinger.testbed.version"] == version
        env = dict(item.split("=", 1) for item in config["Env"])
        assert env["PORT"] == "5000"
        probe = docker(
            "run",
            "--rm",
            *targets.label_flags(),
            f"--user={PGBOUNCER_UID}",
            image,
            "sh",
            "-c",
            'for c in "$@"; do command -v "$c"; done; cat VERSION; '
            "python3 -c 'import importlib.metadata as m; print(m.version(\"dallinger\"))'; "
            "test ! -w /experiment && echo read-only",
            "sh",
            *COMMANDS,
        )
        assert probe.returncode == 0, probe.stderr
        lines = probe.stdout.splitlines()
        assert [Path(line).name for line in lines[: len(COMMANDS)]] == list(COMMANDS)
        assert lines[len(COMMANDS) :] == [version, "12.4.0", "read-only"]


def test_initdb_launch_and_participant(stack: Stack, images: tuple[str, str]) -> None:
    v1, v2 = images
    initdb = docker(
        "run",
        "--rm",
        *targets.label_flags(),
        f"--network={stack.sandbox.network}",
        f"--user={PGBOUNCER_UID}",
        *(f"--env={key}={value}" for key, value in stack.env.items()),
        v1,
        "dallinger-housekeeper",
        "initdb",
        timeout=60,
    )
    assert initdb.returncode == 0, initdb.stdout + initdb.stderr
    tables = stack.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert {"participant", "network", "node"} <= set(tables.split())
    assert stack.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'participant'") == APP

    web = stack.experiment("exp-web1", v1, "dallinger_heroku_web")
    wait_for_web(web)
    assert json.loads(http(web, "GET", "/testbed/version")[1]) == {"version": "1"}

    status, body = http(web, "POST", "/launch")
    assert status == 200, body
    launched = json.loads(body)
    assert launched["status"] == "success", launched
    assert "/ad?recruiter=hotair" in launched["recruitment_msg"]

    status, body = http(web, "GET", "/ad?recruiter=hotair&hitId=h1&assignmentId=a1&workerId=w1")
    assert status == 200, body
    status, body = http(web, "POST", "/participant/w1/h1/a1/sandbox?recruiter=hotair")
    assert status == 200, body
    joined = json.loads(body)
    assert joined["status"] == "success"
    assert joined["participant"]["status"] == "working"
    row = stack.psql("SELECT worker_id, hit_id, assignment_id, mode, status FROM participant")
    assert row == "w1|h1|a1|sandbox|working"
    assert stack.logfile.stat().st_size > 0  # Dallinger's JSON log went to the mount

    # The second build: same database, other version.
    web2 = stack.experiment("exp-web2", v2, "dallinger_heroku_web")
    wait_for_web(web2)
    assert json.loads(http(web2, "GET", "/testbed/version")[1]) == {"version": "2"}


def test_worker_stays_up(stack: Stack, images: tuple[str, str]) -> None:
    worker = stack.experiment("exp-worker", images[0], "dallinger_heroku_worker")
    time.sleep(4)
    state = docker("inspect", "--format={{.State.Running}} {{.RestartCount}}", worker)
    logs = docker("logs", worker)
    assert state.stdout.split() == ["true", "0"], logs.stdout + logs.stderr
    assert "Traceback" not in logs.stdout + logs.stderr
    # The worker process (rq) is PID 1 and listens on Dallinger's queues in Redis.
    cmdline = docker("exec", worker, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "dallinger_heroku_worker" in cmdline
