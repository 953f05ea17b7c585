"""An app that Dallinger 12.4's own `dallinger docker-ssh` deployed, with participants,
looked after and taken over by this tool: apps, logs, export, `deploy --update`, destroy.

A target of its own at a loopback address, set up for Dallinger as the side-by-side
benchmark sets it up (tests/testbed/dallinger_baseline.py: stand-ins under the names of
Dallinger's compose templates, Caddy's local root known beforehand); Dallinger deploys
examples/hello to it, building on the server. Its names go into /etc/hosts for the
module (Dallinger POSTs /launch through them). Both tools share one HOME: the same
hosts store, ~/.dallingerconfig and known_hosts. The tests run in order.
"""

import contextlib
import http.client
import re
import ssl
import zipfile
from pathlib import Path

import pytest

from tests.integration.conftest import BIN_DIR, Researcher, assert_clean_failure
from tests.testbed import dallinger_baseline as baseline
from tests.testbed import experiment_image, hosts_file, service_images, targets

pytestmark = pytest.mark.e2e

APP = "e2e-taken"
DOMAIN = "takeover.dlgr-test.test"
IMAGE_BASE = "dlgr-e2e-takeover/hello"  # built on the server by Dallinger
PARTICIPANTS = ("T1", "T2", "T3")


class Taken:
    """The target, Dallinger's researcher and ours (the same HOME), Caddy's root."""

    def __init__(self, target, dallinger, ours: Researcher, password: str):
        self.target, self.dallinger, self.ours, self.password = target, dallinger, ours, password
        self.tls = ssl.create_default_context(cadata=dallinger.ca.cert_pem.decode())

    def https(self, path: str, method: str = "GET", auth: str | None = None) -> tuple[int, str]:
        connection = http.client.HTTPSConnection(
            f"{APP}.{DOMAIN}", 443, context=self.tls, timeout=30
        )
        headers = {"Authorization": f"Basic {auth}"} if auth else {}
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def on_server(self, command: str) -> str:
        done = targets.exec_in(self.target, "runuser", "-l", "dallinger", "-c", command, check=True)
        return done.stdout

    def sql(self, query: str) -> str:
        return self.sql_in(APP, query)

    def sql_in(self, database: str, query: str) -> str:
        return self.on_server(
            f'docker exec dallinger-postgresql-1 psql -U dallinger -d {database} -tAc "{query}"'
        ).strip()


@pytest.fixture(scope="module")
def taken(testbed, ssh_key, tmp_path_factory):
    baseline.check_venv()
    service_images.build_service_images()
    experiment_image.build_experiment_images()
    targets.ensure_base_image(experiment_image.SUITE)
    address = targets.free_loopback_address()
    names = f"{address} {DOMAIN} logs.{DOMAIN} {APP}.{DOMAIN}"
    workdir = tmp_path_factory.mktemp("tk")
    with contextlib.ExitStack() as stack:
        stack.enter_context(hosts_file.entries([names], "dlgr-e2e-takeover"))
        target = targets.start_target(
            "dlgr-e2e-takeover", address, ssh_key.with_suffix(".pub").read_text()
        )
        stack.callback(targets.stop_target, target)
        baseline.install_docker(target, ssh_key, workdir)
        baseline.load_images(
            target, [*baseline.stand_in_sources(), targets.base_image(experiment_image.SUITE)]
        )
        dallinger = baseline.dallinger_user(stack, workdir, ssh_key, target, targets.label_flags())
        directory = baseline.experiment_copy(workdir / "hello", IMAGE_BASE)
        deployed = dallinger.run(
            "docker-ssh", "deploy", "--server", address, "--app", APP, "--dns-host", DOMAIN,
            cwd=directory,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        password = re.search(r"password = (\S+)\)", deployed.stdout).group(1)
        # This tool, run by the same person: Dallinger's HOME, its own server settings
        # (the app's Redis and pgbouncer from the test bed, sent from here). The stand-in
        # Dallinger ran as postgres:12 is PostgreSQL 17, whose data asks for postgres:17,
        # which no registry gives here: the test bed's PostgreSQL 17 is named instead.
        env = {**dallinger.env, "PATH": f"{BIN_DIR}:{dallinger.env['PATH']}"}
        ours = Researcher(home=dallinger.home, tmp=workdir, env=env)
        ours.configure(
            tls="internal",
            docker_engine_source="distribution",
            docker_postgresql_image=service_images.POSTGRES_IMAGE,
            docker_dozzle_image=service_images.DOZZLE_IMAGE,  # ours is newer than Dallinger's
            docker_redis_image=service_images.REDIS_IMAGE,
            docker_pgbouncer_image=service_images.PGBOUNCER_IMAGE,
        )
        state = Taken(target, dallinger, ours, password)
        for worker in PARTICIPANTS:
            status, _ = state.https(f"/participant/{worker}/H{worker}/A{worker}/debug", "POST")
            assert status == 200, status
        yield state


def test_apps_lists_the_app_dallinger_deployed(taken):
    result, report = taken.ours.run_json("apps")
    assert result.returncode == 0, report["errors"]
    (app,) = [app for app in report["apps"] if app["name"] == APP]
    assert app["state"] == "running", app
    logs = taken.ours.run("logs", "--app", APP, "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip()


def test_export_of_the_app_dallinger_deployed_is_read_by_dallinger(taken):
    result, report = taken.ours.run_json("export", "--app", APP)
    assert result.returncode == 0, report["errors"]
    with zipfile.ZipFile(report["export"]["path"]) as exported:
        rows = exported.read("data/participant.csv").decode().splitlines()
    assert len(rows) == 1 + len(PARTICIPANTS)


def test_update_takes_the_app_over_keeping_its_data_and_dashboard_password(taken):
    compose = f"~/dallinger/{APP}/docker-compose.yml"
    assert "DATABASE_URL" in taken.on_server(f"cat {compose}")  # Dallinger's: secrets inline
    result, report = taken.ours.run_json(
        "deploy", "--update", "--app", APP, "--image", experiment_image.build_experiment_images()[0],
        "--dns-host", DOMAIN, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, report["errors"]
    assert report["app"]["dashboard_password_kept"] is True
    # Its secrets moved out of the compose file into a 0600 .env.
    assert "DATABASE_URL" not in taken.on_server(f"cat {compose}")
    assert taken.on_server(f"stat -c %a ~/dallinger/{APP}/.env").strip() == "600"
    assert taken.password not in taken.on_server(f"cat {compose}")
    # Its own role owns its database; its participants are there.
    owner = f"select pg_get_userbyid(datdba) from pg_database where datname = '{APP}'"  # noqa: S608 a constant
    assert taken.sql(owner) == APP
    assert taken.sql("select count(*) from participant") == str(len(PARTICIPANTS))
    # The dashboard answers with the password Dallinger gave it, and the experiment serves.
    status, _ = taken.https("/robots.txt")
    assert status == 200
    env = taken.on_server(f"cat ~/dallinger/{APP}/.env")
    assert f'dashboard_password="{taken.password}"' in env


def test_destroy_backs_the_app_up_then_removes_it(taken):
    result, report = taken.ours.run_json("destroy", "--app", APP, "--yes", timeout=900)
    assert result.returncode == 0, report["errors"]
    backup = Path(report["backup"])
    with zipfile.ZipFile(backup) as kept:
        assert len(kept.read("data/participant.csv").decode().splitlines()) == 4
    gone = taken.on_server(
        f"ls -d ~/dallinger/{APP} ~/dallinger-data/{APP} ~/dallinger/caddy.d/{APP} 2>/dev/null; "
        f"docker ps -aq --filter label=com.docker.compose.project={APP}; true"
    )
    assert gone.strip() == ""
    databases = f"select count(*) from pg_database where datname = '{APP}'"  # noqa: S608 a constant
    assert taken.sql_in("postgres", databases) == "0"
    missing = taken.ours.run("logs", "--app", APP)
    assert_clean_failure(missing, f"no app {APP}")
