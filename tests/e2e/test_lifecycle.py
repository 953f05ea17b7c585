"""A researcher's daily work, end to end, with a real Dallinger experiment image.

One fresh target whose ports 80/443 are published on 127.0.0.1, so that
`<app>.localhost` reaches its Caddy (libnss-myhostname resolves those names, as
browsers do). The CLI runs as a real process with its own HOME; HTTPS is verified
against Caddy's own root certificate. The tests run in order and share the server.
"""

import base64
import csv
import dataclasses
import getpass
import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import element_to_be_clickable as clickable
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from dlgr_ansible.build import CA_IN_CONTEXT
from tests.integration.conftest import REPO, Researcher, assert_clean_failure, new_researcher
from tests.testbed import (
    browser,
    experiment_image,
    forward,
    hosts_file,
    registry,
    service_images,
    targets,
)
from tests.testbed.participant_load import WORKER_PREFIX, ParticipantLoad

pytestmark = pytest.mark.e2e

APP, OTHER, SEEDED, PRIVATE, BUILT = "e2e-one", "e2e-two", "e2e-seeded", "e2e-private", "e2e-built"
# Arrives in the container exactly as given and never runs anything.
TRICKY = 'it\'s "quoted" $HOME ${HOME} `id` $(id); echo pwned\nsecond line\\n \\ end'
SECRET = "aws-secret-" + os.urandom(6).hex()
DALLINGER_PYTHON = REPO / ".venv-dallinger" / "bin" / "python"
# Where `make deps` installs dlgr-ansible[dallinger]: Dallinger builds the image.
WITH_DALLINGER = DALLINGER_PYTHON.parent
BUILT_IMAGES = "dlgr-examples/hello"  # docker_image_base_name in examples/hello/config.txt
MOVED_DOMAIN = "moved.test"  # where `move` serves APP on the second server


@pytest.fixture(scope="module")
def images():
    service_images.build_service_images()
    return experiment_image.build_experiment_images()


@pytest.fixture(scope="module")
def server(testbed, ssh_key, images):
    address = targets.free_loopback_address()
    if targets.port_is_open("127.0.0.1", 443) or targets.port_is_open("127.0.0.1", 80):
        pytest.fail("127.0.0.1:80/443 is taken; the end-to-end target needs it", pytrace=False)
    target = targets.start_target(
        "dlgr-e2e", address, ssh_key.with_suffix(".pub").read_text(), web_address="127.0.0.1"
    )
    yield target
    targets.stop_target(target)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, ssh_key, server) -> Researcher:
    """A researcher with a saved, provisioned server and the test images configured."""
    person = new_researcher(
        tmp_path_factory.mktemp("lab"),
        ssh_key,
        tls="internal",
        aws_secret_access_key=SECRET,
        **service_images.settings(),
    )
    added = person.run("servers", "add", "--host", server.address, "--user", "dallinger")
    assert added.returncode == 0, added.stderr
    return person


def deploy(lab, *args, **options):
    start = time.monotonic()
    # A first deploy sends the whole stack and the experiment image: minutes on a busy machine.
    result, report = lab.run_json(
        "deploy", "--dns-host", "localhost", *args, timeout=1200, **options
    )
    report["seconds"] = round(time.monotonic() - start, 1)
    print(f"deploy {' '.join(args)}: {report['seconds']} s", file=sys.stderr)
    # Failures are explained in the report; the progress lines on stderr only name tasks.
    result.stderr = "\n".join(report.get("errors", [])) + "\n" + result.stderr[-2000:]
    return result, report


def on_server(server, command: str, check=True) -> str:
    """A shell command as the SSH user on the server."""
    done = targets.exec_in(server, "runuser", "-l", "dallinger", "-c", command, check=check)
    return done.stdout


def sql(server, database: str, query: str, app: str = "") -> str:
    """`query` in `database` as the superuser; `app` is readable as current_setting('x.app')."""
    return on_server(
        server,
        f"PGOPTIONS='-c x.app={app}' docker exec -e PGOPTIONS dallinger-postgresql-1 "
        f'psql -U dallinger -d {database} -tAc "{query}"',
    ).strip()


def https(server, host: str, path: str, method="GET") -> tuple[int, str]:
    """A request to https://<host>/ as a browser would make it: DNS, port 443, verified TLS."""
    context = targets.caddy_tls(server)
    connection = http.client.HTTPSConnection(host, 443, context=context, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def settled(app: str) -> str:
    """A shell command's prefix that waits until the web an update of `app` replaced is
    gone: it finishes its requests after the command, holding the server's hand-over lock."""
    return "flock ~/dallinger/.hand-over.lock"


def web(app: str) -> str:
    """The app's web container, for a shell command: each update starts a new one."""
    return f"$({settled(app)} docker compose -p {app} ps -q web)"


def forget_load(server, app: str = APP) -> None:
    """Drop the participants a ParticipantLoad made: later tests count the app's rows."""
    query = f"delete from participant where worker_id like '{WORKER_PREFIX}%'"  # noqa: S608 a constant
    sql(server, app, query)


def serving_throughout(server, what: str, command):
    """`command()` (a run returning its result and report) while participants keep
    arriving: it succeeds and none of their requests fails. Returns its report and the load."""
    try:
        with ParticipantLoad(f"{APP}.localhost", targets.caddy_tls(server), rate=10) as load:
            result, report = command()
    finally:
        forget_load(server)  # also when it fails: later tests count the app's participants
    assert result.returncode == 0, (result.stderr[-4000:], report.get("errors"))
    print(f"participant requests failed during the {what}: {load.summary()}", file=sys.stderr)
    if load.failed:
        caddy = on_server(server, "docker logs --tail 200 dallinger-httpserver-1 2>&1", check=False)
        errors = [line for line in caddy.splitlines() if '"level":"error"' in line]
        raise AssertionError(f"{load.summary()}; Caddy's last errors: {errors[-5:]}")
    return report, load


def container_env(server, app: str, name: str) -> str:
    return on_server(
        server,
        f"{settled(app)} docker compose -p {app} exec -T web python3 -c "
        f"'import os, sys; sys.stdout.write(os.environ[\"{name}\"])'",
    )


def web_environment(server, app: str) -> dict:
    """The web container's environment, but what differs on every server (its container id
    as HOSTNAME, the database password in DATABASE_URL)."""
    found = json.loads(
        on_server(
            server,
            f"{settled(app)} docker compose -p {app} exec -T web python3 -c "
            "'import json, os; print(json.dumps(dict(os.environ)))'",
        )
    )
    return {key: value for key, value in found.items() if key not in ("HOSTNAME", "DATABASE_URL")}


class ProcessWatcher(threading.Thread):
    """Samples every process's command line on the server while a deploy runs."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.seen, self.stop = server, set(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            listing = targets.exec_in(self.server, "ps", "-eo", "args", "--no-headers")
            self.seen.update(listing.stdout.splitlines())
            time.sleep(0.2)


def test_deploy_serves_the_experiment_over_verified_https(lab, server, images):
    watcher = ProcessWatcher(server)
    watcher.start()
    try:
        result, report = deploy(
            lab,
            "--app",
            APP,
            "--image",
            images[0],
            "-c",
            "tricky_value",
            TRICKY,
            "--keep-artifacts",
        )
    finally:
        watcher.stop.set()
        watcher.join()
    assert result.returncode == 0, result.stderr
    app = report["app"]
    assert app["url"] == f"https://{APP}.localhost/"
    assert app["created"] is True
    assert app["recruitment_msg"]
    password = app["dashboard_password"]
    assert Path(app["dashboard_password_file"]).stat().st_mode & 0o777 == 0o600

    status, page = https(server, f"{APP}.localhost", "/ad?generate_tokens=1")
    assert status in (200, 302), page
    status, _ = https(server, f"{APP}.localhost", "/participant/W1/H1/A1/debug", "POST")
    assert status == 200
    assert sql(server, APP, "select worker_id from participant") == "W1"

    # Secrets: nowhere but the one-time display and 0600 files.
    secrets = [SECRET, password, TRICKY.splitlines()[0]]
    db_password = on_server(server, f"grep -o '{APP}:[A-Za-z0-9]*@' ~/dallinger/{APP}/.env")
    secrets.append(db_password.split(":")[1].rstrip("@\n"))
    assert all(s not in result.stderr for s in secrets)
    assert all(s not in result.stdout for s in secrets if s != password)
    artifacts = Path(report["artifacts"])
    for path in artifacts.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [s for s in secrets if s in text], path
    assert not [line for line in watcher.seen if any(s in line for s in secrets)]
    leaks = on_server(
        server,
        "grep -rlF -e "
        + " -e ".join(f"'{s}'" for s in secrets[:2] + secrets[3:])
        + " ~/dallinger ~/dallinger-data | xargs -r stat -c '%a %n'",
        check=False,
    )
    assert all(line.startswith("600 ") for line in leaks.splitlines()), leaks
    assert SECRET not in on_server(server, f"cat ~/dallinger/{APP}/docker-compose.yml")

    assert container_env(server, APP, "tricky_value") == TRICKY
    assert container_env(server, APP, "AWS_SECRET_ACCESS_KEY") == SECRET


def test_deploy_again_without_update_stops_and_changes_nothing(lab, server, images):
    before = on_server(server, f"cat ~/dallinger/{APP}/docker-compose.yml")
    result, report = deploy(lab, "--app", APP, "--image", images[1])
    assert result.returncode != 0
    assert "exists" in " ".join(report["errors"])
    assert "--update" in " ".join(report["errors"])
    assert "Traceback" not in result.stderr
    assert on_server(server, f"cat ~/dallinger/{APP}/docker-compose.yml") == before
    assert sql(server, APP, "select count(*) from participant") == "1"


def test_update_swaps_the_image_and_keeps_the_data(lab, server, images):
    """Participants keep arriving throughout: the new web serves before the old one stops."""
    report, load = serving_throughout(
        server, "update", lambda: deploy(lab, "--app", APP, "--image", images[1], "--update")
    )
    assert load.total > 50, load.summary()
    assert report["app"]["created"] is False
    assert not report["app"]["recruitment_msg"]  # no second /launch
    assert "dashboard_password" not in report["app"]  # shown once only
    web_image = on_server(server, f"docker inspect -f '{{{{.Config.Image}}}}' {web(APP)}")
    assert web_image.strip() == images[1]
    assert sql(server, APP, "select worker_id from participant") == "W1"
    status, _ = https(server, f"{APP}.localhost", "/ad?generate_tokens=1")
    assert status in (200, 302)
    # The hand-over directed Caddy to the new container's address; once the old one is
    # gone, its Caddyfile is back, and the app has one web container.
    caddy_config = on_server(
        server,
        f"{settled(APP)} docker exec dallinger-httpserver-1 wget -qO- http://127.0.0.1:2019/config/",
    )
    assert f'"dial":"{APP}_web:5000"' in caddy_config, caddy_config
    assert len(on_server(server, f"docker compose -p {APP} ps -aq web").split()) == 1
    assert ".retiring" not in on_server(server, f"ls -A ~/dallinger/{APP}")

    containers = (
        f"docker inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}}' {web(APP)} {APP}-redis-1"
    )
    running = on_server(server, containers)
    again, report = deploy(lab, "--app", APP, "--image", images[1], "--update")
    assert again.returncode == 0, again.stderr
    assert report["hosts"][server.address]["changed"] == 0
    assert on_server(server, containers) == running  # nothing recreated or restarted


def test_an_update_to_a_broken_image_is_rolled_back_and_the_old_one_serves(lab, server, images):
    broken = experiment_image.build_broken_image()
    files = f"cd ~/dallinger/{APP} && sha256sum docker-compose.yml .env && ls -A"
    before = on_server(server, files)
    # As an update interrupted before its hand-over leaves it: the files it wrote, and
    # Ansible's backups of those the running web was started from (older than any other).
    on_server(
        server,
        f"cd ~/dallinger/{APP} && for f in .env docker-compose.yml; do "
        'cp -p "$f" "$f.1.2026-01-01@00:00:00~" && touch -d 2026-01-01 "$f".*~; done && '
        f"sed -i 's#{images[1]}#{broken}#' docker-compose.yml",
    )
    with ParticipantLoad(f"{APP}.localhost", targets.caddy_tls(server), rate=10) as load:
        result, report = deploy(lab, "--app", APP, "--image", broken, "--update")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    errors = " ".join(report["errors"])
    assert "was rolled back: the new web container exited at start" in errors
    # The one traceback shown is the experiment's own, from the new web's log lines.
    assert 'File "/experiment/experiment.py"' in errors
    assert "broken on purpose: a test image" in errors
    assert "/dlgr_ansible/" not in output  # and none of this tool's
    assert load.failed == 0, load.summary()
    forget_load(server)
    assert on_server(server, files) == before  # the files put back, no backup left
    running = on_server(server, f"docker compose -p {APP} ps -a --format '{{{{.Image}}}}' web")
    assert running.split() == [images[1]]
    status, body = https(server, f"{APP}.localhost", "/testbed/version")
    assert (status, json.loads(body)) == (200, {"version": "2"})
    assert sql(server, APP, "select worker_id from participant") == "W1"


def test_rollback_returns_to_the_previous_release_while_participants_are_served(
    lab, server, images
):
    listed, report = lab.run_json("releases", "--app", APP)
    assert listed.returncode == 0, report["errors"]
    kept = report["releases"]
    assert [(r["image"], r["current"]) for r in kept] == [(images[0], False), (images[1], True)]
    report, _ = serving_throughout(
        server, "rollback", lambda: lab.run_json("rollback", "--app", APP)
    )
    back = {"app": APP, "release": kept[0]["id"], "image": images[0]}
    assert report["dlgr_rollback"][server.address] == back
    status, body = https(server, f"{APP}.localhost", "/testbed/version")
    assert (status, json.loads(body)) == (200, {"version": "1"})
    assert sql(server, APP, "select worker_id from participant") == "W1"

    listed, report = lab.run_json("releases", "--app", APP)
    newest = report["releases"][-1]
    assert (newest["image"], newest["note"]) == (images[0], f"rollback to {kept[0]['id']}")
    assert [r["current"] for r in report["releases"]] == [True, False, True]
    modes = on_server(server, f"cd ~/dallinger/{APP} && stat -c '%a %n' releases releases/*/.env")
    assert {line.split()[0] for line in modes.splitlines()} == {"700", "600"}, modes


def test_restart_serves_throughout_and_shell_runs_in_the_container(lab, server, images):
    """What PsyNet's SSH docs have researchers do by hand (`docker compose restart web
    worker clock`, `docker compose exec web bash`), as commands."""
    before = on_server(server, f"docker inspect -f '{{{{.Id}}}}' {web(APP)} {APP}-worker_1-1")
    report, _ = serving_throughout(server, "restart", lambda: lab.run_json("restart", "--app", APP))
    assert report["dlgr_restart"][server.address] == {"app": APP, "services": ["web", "worker_1"]}
    web_id, worker_id = before.split()
    after = on_server(
        server, f"docker inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}}' {web(APP)}"
    )
    assert after.split()[0] != web_id  # handed over to a new container
    started = on_server(
        server, f"docker inspect -f '{{{{.Id}}}} {{{{.RestartCount}}}}' {APP}-worker_1-1"
    )
    assert started.split()[0] == worker_id  # restarted in place
    refused = lab.run("restart", "--app", APP, "--service", "nope")
    assert_clean_failure(refused, f"{APP} has no service nope", "Nothing was restarted")

    shell = lab.run("shell", "--app", APP, "--", "cat", "/experiment/VERSION")
    assert (shell.returncode, shell.stdout) == (0, "1\n"), shell.stderr
    worker = lab.run("shell", "--app", APP, "--service", "worker_1", "--", "sh", "-c", "exit 7")
    assert worker.returncode == 7
    missing = lab.run("shell", "--app", "e2e-nothing", "--", "true")
    assert_clean_failure(missing, "no app e2e-nothing")


def test_a_stack_or_app_changed_by_hand_is_converged_by_the_next_update(lab, server, images):
    """A deploy skips the provision, and an update the app, only when the stamp of the last
    run holds the same inputs and the stack (or app) looks as it did then: a stopped Caddy
    or web container does not."""
    on_server(server, f"docker stop dallinger-httpserver-1 {web(APP)}")
    result, report = deploy(lab, "--app", APP, "--image", images[1], "--update")
    assert result.returncode == 0, result.stderr
    assert report["hosts"][server.address]["changed"] > 0
    running = f"docker inspect -f '{{{{.State.Running}}}}' dallinger-httpserver-1 {web(APP)}"
    assert on_server(server, running).split() == ["true", "true"]
    status, _ = https(server, f"{APP}.localhost", "/ad?generate_tokens=1")
    assert status in (200, 302)


def test_two_deploys_at_once_go_one_after_the_other(lab, server, images):
    """Two terminals against one server: a new app, and meanwhile an update of another.
    The update waits for the first run's deploy lock, saying whose it is."""
    done = {}

    def run(name, *args):
        done[name] = lab.run_json("deploy", "--dns-host", "localhost", *args, timeout=1200)

    first = threading.Thread(target=run, args=("new", "--app", OTHER, "--image", images[0]))
    first.start()
    deadline = time.monotonic() + 300
    while OTHER not in on_server(server, "cat ~/dallinger/deploy.lock") and first.is_alive():
        assert time.monotonic() < deadline, "the first deploy never took the lock"
        time.sleep(0.2)
    second = threading.Thread(
        target=run, args=("update", "--app", APP, "--image", images[1], "--update")
    )
    second.start()
    first.join()
    second.join()
    for result, report in done.values():
        assert result.returncode == 0, report["errors"]
    said = " ".join(done["update"][0].stderr.split())
    assert "waiting: The server's deploy lock is held by" in said
    assert f"(dlgr-ansible deploy of {OTHER})" in said

    listed, report = lab.run_json("history", "--last", "0")
    assert listed.returncode == 0, report["errors"]
    runs = report["history"]
    new = next(run for run in reversed(runs) if run["app"] == OTHER)
    update = next(run for run in reversed(runs) if run["app"] == APP)
    assert (new["command"], new["result"]) == ("dlgr-ansible deploy", "succeeded")
    assert (update["command"], update["result"]) == ("dlgr-ansible deploy --update", "succeeded")
    assert update["started"] >= new["time"]  # one after the other


def test_history_shows_every_run_failed_ones_included(lab, server, images):
    listed, report = lab.run_json("history", "--app", APP, "--last", "0")
    assert listed.returncode == 0, report["errors"]
    runs = [(run["command"], run["image"], run["result"]) for run in report["history"]]
    assert runs[0] == ("dlgr-ansible deploy", images[0], "succeeded")
    broken = experiment_image.build_broken_image()
    assert ("dlgr-ansible deploy --update", broken, "failed") in runs
    assert ("dlgr-ansible rollback", images[0], "succeeded") in runs
    assert ("dlgr-ansible restart", "", "succeeded") in runs  # no image of its own
    # A run that stopped before sending its image (a deploy of an existing app without
    # --update) finds no image on the server to name by id.
    succeeded = [run for run in report["history"] if run["result"] == "succeeded" and run["image"]]
    named = [(run["command"], run["image"], run["image_id"]) for run in succeeded]
    assert all(image_id.startswith("sha256:") for *_, image_id in named), named
    assert {run["user"] for run in report["history"]} == {getpass.getuser()}
    log = "~/dallinger/deploys.log"
    assert on_server(server, f"stat -c %a {log}").strip() == "600"
    assert SECRET not in on_server(server, f"cat {log}")


def test_apps_are_kept_apart(lab, server, images):
    other_password = on_server(server, f"grep -o '{OTHER}:[A-Za-z0-9]*@' ~/dallinger/{OTHER}/.env")
    login = on_server(
        server,
        f"docker exec -e PGPASSWORD={other_password.split(':')[1].rstrip('@' + chr(10))} "
        f"dallinger-postgresql-1 psql -h postgresql -U {OTHER} -d {APP} -tAc 'select 1' 2>&1",
        check=False,
    )
    assert "permission denied" in login, login
    published = targets.exec_in(server, "docker", "ps", "--format", "{{.Ports}}").stdout
    ports = {
        part.split("->")[0].rsplit(":", 1)[-1]
        for part in published.replace(",", "\n").split()
        if "->" in part
    }
    assert ports <= {"80", "443"}, published


def test_a_service_image_that_cannot_be_had_stops_the_deploy_before_the_app(lab, server, images):
    """An image the server cannot pull (here: nothing can be pulled, the test bed has no
    registry), such as the old default pgbouncer tag: the deploy stops naming the image
    and the key that chooses another, before the app has files or a database."""
    missing = "edoburu/pgbouncer:1.23.1"
    result, _ = deploy(
        lab,
        "--app",
        "e2e-nopull",
        "--image",
        "dlgr-test/experiment:1",
        "-c",
        "docker_pgbouncer_image",
        missing,
    )
    assert_clean_failure(result)
    words = " ".join(result.stderr.split())
    assert f"The image {missing} is not on the server" in words, words
    assert "To use another image, set the config key docker_pgbouncer_image" in words, words
    assert on_server(server, "test -e ~/dallinger/e2e-nopull && echo there", check=False) == ""
    databases = sql(
        server, "postgres", "select count(*) from pg_database where datname = 'e2e-nopull'"
    )
    assert databases == "0"


def test_deploy_pulls_from_a_private_registry_without_leaking_the_login(lab, server, images):
    user, password = "lab", f"registry-{os.urandom(8).hex()}"
    registry.start_registry(server, user, password)
    private = f"{registry.ADDRESS}/lab/experiment:2"
    registry.publish(server, images[1], private, user, password, keep_image=True)
    login = {"DLGR_REGISTRY_USERNAME": user, "DLGR_REGISTRY_PASSWORD": password}
    watcher = ProcessWatcher(server)
    watcher.start()
    try:
        result, report = deploy(
            dataclasses.replace(lab, env={**lab.env, **login}),
            *("--app", PRIVATE, "--image", private, "--keep-artifacts"),
        )
    finally:
        watcher.stop.set()
        watcher.join()
    assert result.returncode == 0, result.stderr
    status, _ = https(server, f"{PRIVATE}.localhost", "/ad?generate_tokens=1")
    assert status in (200, 302)
    web_image = on_server(server, f"docker inspect -f '{{{{.Config.Image}}}}' {web(PRIVATE)}")
    assert web_image.strip() == private

    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert password not in result.stdout + result.stderr
    for path in Path(report["artifacts"]).rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [s for s in (password, encoded) if s in text], path
    assert not [line for line in watcher.seen if password in line]
    # The login was used for the pull and removed with it.
    leaks = targets.exec_in(
        server, "sh", "-c", f"grep -rlF -e {password} -e {encoded} /home /root /tmp /var/tmp /etc"
    )
    assert leaks.stdout == ""


def experiment_directory(root: Path) -> Path:
    """examples/hello as a researcher has it, built on the test bed's offline base
    (Dallinger's build takes no build arguments, so the copy's default changes)."""
    directory = root / "hello"
    shutil.copytree(REPO / "examples" / "hello", directory)
    base = targets.ensure_base_image(experiment_image.SUITE)
    dockerfile = directory / "Dockerfile"
    recipe = dockerfile.read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim\n" in recipe
    dockerfile.write_text(recipe.replace("debian:bookworm-slim", base, 1))
    return directory


@pytest.fixture
def built_here():
    """Removes the images the test builds from this machine's Docker, before and after."""

    def remove():
        listed = targets._docker("images", "-q", "--filter", f"reference={BUILT_IMAGES}")
        for image in set(listed.stdout.split()):
            targets._docker("rmi", "--force", image, check=False)

    remove()
    yield
    remove()


def test_deploy_builds_the_experiment_in_its_directory_with_dallinger(
    lab, server, tmp_path, built_here
):
    directory = experiment_directory(tmp_path)
    without = lab.run("deploy", "--app", BUILT, "--dns-host", "localhost", cwd=directory)
    assert_clean_failure(without, "pip install 'dlgr-ansible[dallinger]'")

    # Dallinger builds with BuildKit, which Debian's docker CLI has built in; the docker 28
    # CLI this machine also has in /usr/local/bin lacks the buildx plugin it needs.
    builder = dataclasses.replace(
        lab, env={**lab.env, "PATH": f"{WITH_DALLINGER}:/usr/bin:{lab.env['PATH']}"}
    )
    leftovers = set(lab.tmp.iterdir())
    ca = ("--ca-bundle", str(experiment_image.SYSTEM_CA_BUNDLE))

    broken = experiment_directory(tmp_path / "broken")
    (broken / "Dockerfile").write_text(f"FROM {targets.base_image('bookworm')}\nRUN exit 3\n")
    failed = builder.run(
        "deploy", "--app", BUILT, "--dns-host", "localhost", cwd=broken, bin_dir=WITH_DALLINGER
    )
    assert_clean_failure(failed, "Building the image failed")
    assert on_server(server, f"ls -d ~/dallinger/{BUILT} 2>/dev/null", False) == ""
    assert set(lab.tmp.iterdir()) == leftovers
    result, report = deploy(builder, "--app", BUILT, *ca, cwd=directory, bin_dir=WITH_DALLINGER)
    assert result.returncode == 0, result.stderr
    image = on_server(server, f"docker inspect -f '{{{{.Config.Image}}}}' {web(BUILT)}").strip()
    assert image.startswith(f"{BUILT_IMAGES}:"), image
    status, body = https(server, f"{BUILT}.localhost", "/testbed/version")
    assert (status, json.loads(body)) == (200, {"version": "1"})
    # Dallinger's assembly of the experiment, without the CA bundle that pip used.
    inside = f"docker exec {web(BUILT)} sh -c"
    config = on_server(server, f"{inside} 'cat /experiment/config.txt; ls /build-ca 2>&1'", False)
    assert f"heroku_app_id_root = {BUILT}" in config
    # Secrets from ~/.dallingerconfig stay out of the image (this tool's server settings are
    # in its own config file, which Dallinger's build never reads).
    assert SECRET not in config
    assert "docker_engine_source" not in config
    assert "server_pem" not in config
    assert "No such file or directory" in config
    assert set(lab.tmp.iterdir()) == leftovers
    assert not (directory / CA_IN_CONTEXT).exists()

    # "I changed one file": a new build, and only its new layers travel.
    (directory / "templates" / "ad.html").write_text("<p>changed</p>\n", encoding="utf-8")
    result, report = deploy(
        builder, "--app", BUILT, "--update", *ca, cwd=directory, bin_dir=WITH_DALLINGER
    )
    assert result.returncode == 0, result.stderr
    updated = on_server(server, f"docker inspect -f '{{{{.Config.Image}}}}' {web(BUILT)}").strip()
    assert updated != image
    assert on_server(server, f"{inside} 'cat templates/ad.html'") == "<p>changed</p>\n"
    sent = report["dlgr_images"][server.address][updated]
    print(f"update from the directory: {sent['msg']}", file=sys.stderr)
    assert 0 < sent["sent_bytes"] < 2_000_000, sent
    # Saved by the CLI while the playbook started (dlgr_ansible.presave), then cut.
    assert sent["presaved"] is True, sent


def test_export_round_trips_through_dallinger(lab, server):
    result, report = lab.run_json("export", "--app", APP)
    assert result.returncode == 0, report["errors"]
    zip_path = Path(report["export"]["path"])
    assert zip_path == lab.home / "data" / f"{APP}-data.zip"
    read = subprocess.run(
        [
            str(DALLINGER_PYTHON),
            "-c",
            "import sys; from dallinger.data import Data; d = Data(sys.argv[1]); "
            "print(d.participants.df[['id', 'worker_id', 'unique_id']].to_json(orient='records'))",
            str(zip_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    (row,) = json.loads(read.stdout)
    assert str(row["worker_id"]) == str(row["id"])  # scrubbed as Dallinger does
    assert row["unique_id"] == f"{row['id']}:A1"

    again, report = lab.run_json("export", "--app", APP)
    assert again.returncode == 0
    assert report["hosts"][server.address]["changed"] == 0

    seeded, _ = deploy(
        lab, "--app", SEEDED, "--image", "dlgr-test/experiment:1", "--archive", str(zip_path)
    )
    assert seeded.returncode == 0, seeded.stderr
    assert sql(server, SEEDED, "select count(*) from participant") == "1"


def test_a_server_saved_as_localhost_keeps_controller_tasks_on_the_controller(lab, server):
    """Ansible makes an inventory host called localhost the target of every `delegate_to:
    localhost`: the export's zip would be looked for on the server, not here."""
    with forward.forwarded(server.address, 22) as port:
        added = lab.run(
            "servers", "add", "--host", "localhost", "--port", str(port), "--user", "dallinger"
        )
        try:
            assert added.returncode == 0, added.stderr
            (lab.home / "data" / f"{APP}-data.zip").unlink(missing_ok=True)
            result, report = lab.run_json("export", "--app", APP, "--server", "localhost")
            assert result.returncode == 0, report["errors"]
            assert Path(report["export"]["path"]).is_file()
            assert list(report["hosts"]) == ["localhost"]  # as saved, not as listed
            assert report["hosts"]["localhost"]["failed"] == 0
            inventory = lab.home / "localhost-inventory.yml"
            assert lab.run("inventory", "--output", str(inventory)).returncode == 0
            assert '"server-localhost":' in inventory.read_text()
        finally:
            lab.run("servers", "remove", "--host", "localhost")


def test_server_views(lab, server):
    result, report = lab.run_json("apps")
    assert result.returncode == 0, result.stderr
    found = {app["name"]: app for app in report["apps"]}
    assert found[APP]["state"] == "running", report
    assert found[APP]["url"] == f"https://{APP}.localhost/"
    for command in (["stats"], ["db-connections"]):
        done = lab.run(*command)
        assert done.returncode == 0, done.stderr
    logs = lab.run("logs", "--app", APP, "--tail", "20")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip()
    changed = lab.run("set-dozzle-password", "--password", "new-dozzle-pass")
    assert changed.returncode == 0, changed.stderr


def test_a_participant_clicks_through_the_experiment_in_a_real_browser(lab, server, tmp_path):
    """From the ad to the end in headless Chromium, as Dallinger's own bots do, with TLS
    verified against the server's root; the participant and their answers are in the export."""

    def visit(driver, attempt: int) -> str:
        worker = f"BROWSER{attempt}"
        try:
            driver.get(
                f"https://{APP}.localhost/ad?recruiter=hotair&assignmentId=AB{attempt}"
                f"&hitId=HB1&workerId={worker}&mode=debug"
            )
            wait = WebDriverWait(driver, 60)
            wait.until(clickable((By.ID, "begin-button"))).click()
            wait.until(lambda d: len(d.window_handles) == 2)  # the experiment's own window
            driver.switch_to.window(driver.window_handles[-1])
            wait.until(clickable((By.ID, "consent"))).click()
            wait.until(clickable((By.ID, "begin"))).click()
            wait.until(clickable((By.ID, "finish"))).click()  # once it is a participant
            wait.until(clickable((By.ID, "submit-questionnaire")))
            Select(driver.find_element(By.ID, "engagement")).select_by_value("7")
            Select(driver.find_element(By.ID, "difficulty")).select_by_value("3")
            driver.find_element(By.ID, "submit-questionnaire").click()
            wait.until(lambda d: len(d.window_handles) == 1)  # it closes itself when done
            driver.switch_to.window(driver.window_handles[0])
            wait.until(lambda d: "/recruiter-exit" in d.current_url)
        except Exception:
            shot = tmp_path / f"browser-failure-{attempt}.png"
            driver.save_screenshot(str(shot))
            print(f"screenshot of the failure: {shot} ({driver.current_url})", file=sys.stderr)
            # The screenshot goes with tmp_path; what the page loaded says more in CI's log.
            loaded = driver.execute_script(
                "return [document.readyState, document.title,"
                " performance.getEntriesByType('resource').map("
                "   r => `${r.name} ${r.responseStatus || ''} ${Math.round(r.duration)}ms`)]"
            )
            print(f"page state, title, resources: {loaded}", file=sys.stderr)
            print(lab.run("logs", "--app", APP, "--tail", "40").stdout, file=sys.stderr)
            raise
        return worker

    worker = browser.participate(targets.caddy_root(server).encode(), tmp_path, visit)
    result, report = lab.run_json("export", "--app", APP, "--no-scrub", "--output", str(tmp_path))
    assert result.returncode == 0, report["errors"]
    with zipfile.ZipFile(report["export"]["path"]) as exported:
        participants = list(
            csv.DictReader(io.StringIO(exported.read("data/participant.csv").decode()))
        )
        questions = list(csv.DictReader(io.StringIO(exported.read("data/question.csv").decode())))
    (row,) = [row for row in participants if row["worker_id"] == worker]
    assert row["status"] in ("submitted", "approved"), row
    (answer,) = [q for q in questions if q["participant_id"] == row["id"]]
    assert json.loads(answer["response"]) == {"engagement": "7", "difficulty": "3"}


def answers(server, app: str) -> bool:
    """The app answers a request that reads its database (Dallinger's /summary)."""
    try:
        status, body = https(server, f"{app}.localhost", "/summary")
        return status == 200 and json.loads(body)["status"] == "success"
    except (OSError, ValueError, KeyError, TypeError):
        return False


def test_a_rebooted_server_serves_every_app_again_with_its_data(lab, server):
    """A reboot, as a real one (systemd stops everything, /run is emptied, every process
    starts again): Docker, the shared stack and every app come back by themselves, with
    their participants, and nobody runs the tool."""
    apps = (APP, OTHER, SEEDED, PRIVATE, BUILT)
    assert all(answers(server, app) for app in apps)
    rows = {app: sql(server, app, "select count(*) from participant") for app in apps}
    started = time.monotonic()
    # The target's STOPSIGNAL is systemd's own (SIGRTMIN+3): a clean shutdown.
    done = subprocess.run(["docker", "restart", "--timeout=60", server.container], check=False)
    assert done.returncode == 0
    waiting, back = set(apps), {}
    while waiting and time.monotonic() - started < 300:
        for app in sorted(waiting):
            if answers(server, app):
                back[app] = round(time.monotonic() - started, 1)
                waiting.discard(app)
        time.sleep(1)
    print(f"after the reboot, each app served again after (s): {back}", file=sys.stderr)
    assert not waiting, f"not serving 300 s after the reboot: {sorted(waiting)}"
    assert {app: sql(server, app, "select count(*) from participant") for app in apps} == rows
    stack = on_server(
        server, "docker compose -p dallinger ps --all --format '{{.Service}} {{.State}}'"
    )
    assert {line.split()[0] for line in stack.splitlines()} >= {"httpserver", "postgresql"}, stack
    assert all(line.split()[1] == "running" for line in stack.splitlines()), stack


@pytest.fixture(scope="module")
def new_server(ssh_key, images):
    """A second, fresh server for `move`, its web on a loopback address of its own, where
    the app's name on it (e2e-one.moved.test) resolves."""
    address = targets.free_loopback_address()
    target = targets.start_target("dlgr-e2e-new", address, ssh_key.with_suffix(".pub").read_text())
    try:
        with hosts_file.entries([f"{address} {APP}.{MOVED_DOMAIN}"], "dlgr-e2e-move"):
            yield target
    finally:
        targets.stop_target(target)


def test_move_carries_the_app_its_data_and_settings_to_another_server(
    lab, server, new_server, images
):
    """`move --remove-source`: the app arrives with its participants, data folder, settings
    (secrets and the tricky value included) and dashboard password, serves there, and is
    gone from the server it left."""
    # The tricky value again: the updates since left it out of the app's environment.
    result, report = deploy(
        lab, "--app", APP, "--image", images[1], "--update", "-c", "tricky_value", TRICKY
    )
    assert result.returncode == 0, result.stderr
    environment = web_environment(server, APP)
    added = lab.run("servers", "add", "--host", new_server.address, "--user", "dallinger")
    assert added.returncode == 0, added.stderr
    on_server(server, f"echo kept > ~/dallinger-data/{APP}/moved-file.txt")
    https(server, f"{APP}.localhost", "/participant/MOVED1/H1/A1/debug", "POST")
    participants = sql(server, APP, "select count(*) from participant")
    password = on_server(server, f"grep ^dashboard_password= ~/dallinger/{APP}/.env")
    bare_password = password.split('"')[1]
    start = time.monotonic()
    result, report = lab.run_json(
        "move", "--app", APP, "--server", server.address, "--to", new_server.address,
        "--dns-host", MOVED_DOMAIN, "--remove-source", "--yes", timeout=1200,
    )  # fmt: skip
    print(f"move to a fresh server: {time.monotonic() - start:.1f} s", file=sys.stderr)
    assert result.returncode == 0, (report["errors"], result.stderr[-3000:])
    assert report["moved"] == APP
    assert report["removed"] is True
    assert report["app"]["url"] == f"https://{APP}.{MOVED_DOMAIN}/"
    assert report["rows"] >= int(participants)
    assert report["app"]["recruitment_msg"] == ""  # not launched again: it was, on the old one
    assert all(s not in result.stdout + result.stderr for s in (SECRET, bare_password))
    backup = Path(report["backup"])
    assert oct(backup.with_suffix(".pgdump").stat().st_mode & 0o777) == "0o600"

    status, body = https(new_server, f"{APP}.{MOVED_DOMAIN}", "/summary")
    assert status == 200, body
    assert sql(new_server, APP, "select count(*) from participant") == participants
    assert (
        sql(new_server, APP, "select count(*) from participant where worker_id = 'MOVED1'") == "1"
    )
    assert on_server(new_server, f"cat ~/dallinger-data/{APP}/moved-file.txt") == "kept\n"
    assert on_server(new_server, f"grep ^dashboard_password= ~/dallinger/{APP}/.env") == password
    saved = lab.home / ".dallinger" / "dlgr-ansible" / new_server.address / f"{APP}-dashboard"
    assert saved.read_text().strip() == bare_password
    # The same environment, to the byte, but the database's address (a new password).
    assert web_environment(new_server, APP) == environment
    assert environment["tricky_value"] == TRICKY
    assert environment["AWS_SECRET_ACCESS_KEY"] == SECRET

    assert on_server(server, f"docker ps -aq --filter label=com.docker.compose.project={APP}") == ""
    assert on_server(server, f"ls -d ~/dallinger/{APP} 2>/dev/null", check=False) == ""
    found = "select count(*) from pg_database where datname = current_setting('x.app')"
    assert sql(server, "postgres", found, APP) == "0"

    again = lab.run(
        "move", "--app", APP, "--server", new_server.address, "--to", server.address,
        "--dns-host", "localhost",
    )  # fmt: skip
    assert again.returncode != 0
    assert "--yes" in again.stderr


def test_destroy_backs_up_then_leaves_nothing_behind(lab, server):
    refused = lab.run("destroy", "--app", OTHER, "--server", server.address)
    assert refused.returncode != 0
    assert "--yes" in refused.stderr
    for app in (OTHER, SEEDED, PRIVATE, BUILT):
        result, report = lab.run_json("destroy", "--app", app, "--server", server.address, "--yes")
        assert result.returncode == 0, report["errors"]
        backup = Path(report["backup"])
        assert backup.is_file()
        parts = [
            backup,
            backup.with_suffix(".pgdump"),
            backup.with_name(backup.stem + "-files.tar.gz"),
        ]
        assert parts[1].stat().st_size > 0
        # Unscrubbed personal data, every part of it: readable only by the researcher.
        assert [oct(part.stat().st_mode & 0o777) for part in parts] == ["0o600"] * 3
        assert (
            on_server(server, f"docker ps -aq --filter label=com.docker.compose.project={app}")
            == ""
        )
        assert on_server(server, f"docker volume ls -q --filter name={app}") == ""
        assert (
            on_server(
                server,
                f"ls -d ~/dallinger/{app} ~/dallinger-data/{app} ~/dallinger/caddy.d/{app} 2>/dev/null",
                check=False,
            )
            == ""
        )
        found = sql(
            server,
            "postgres",
            "select (select count(*) from pg_database where datname = current_setting('x.app'))"
            " + (select count(*) from pg_roles where rolname = current_setting('x.app'))",
            app,
        )
        assert found == "0"
    again, report = lab.run_json(
        "destroy", "--app", APP, "--server", server.address, "--yes", "--no-backup"
    )
    assert again.returncode == 0
    assert report["hosts"][server.address]["changed"] == 0
