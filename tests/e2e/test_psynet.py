"""A real PsyNet 13.3 experiment (examples/psynet), deployed from its directory, end to end.

One fresh target at a loopback address of its own, its apps' names in /etc/hosts. The
CLI runs as a researcher would run it, from the experiment's environment (.venv-psynet:
PsyNet, Dallinger and dlgr-ansible[psynet]); PsyNet's preparation runs against a
PostgreSQL and a Redis on this machine's Docker, the image is built with Dallinger's
code from the experiment's own Dockerfile (pip install of psynet==13.3.0), and HTTPS is
verified against the target's Caddy root. The tests run in order and share the server.
"""

import dataclasses
import hashlib
import http.client
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import element_to_be_clickable as clickable
from selenium.webdriver.support.ui import WebDriverWait

from dlgr_ansible import psynet
from tests.integration.conftest import REPO, assert_clean_failure, new_researcher
from tests.testbed import browser, experiment_image, hosts_file, service_images, targets

pytestmark = pytest.mark.e2e

APP, TWIN = "psy-one", "psy-twin"  # the twin runs the first deploy's image
DOMAIN = "psynet.test"
MOVED_DOMAIN = "moved-psynet.test"  # the app's on the server `move` takes it to
PSYNET_BIN = REPO / ".venv-psynet" / "bin"
EXAMPLE = REPO / "examples" / "psynet"
BUILT_IMAGES = "dlgr-examples/psynet"  # docker_image_base_name in its config.txt
CA = ("--ca-bundle", str(experiment_image.SYSTEM_CA_BUNDLE))
PICTURE = (EXAMPLE / "static" / "picture.png").read_bytes()


@dataclasses.dataclass
class Bed:
    lab: object
    server: targets.Target
    directory: Path
    first_image: str = ""

    def deploy(self, *args: str, cwd: Path | None = None, **env_overrides: str):
        # Dallinger builds with BuildKit, which Debian's docker CLI has built in.
        env = {**self.lab.env, "PATH": f"{PSYNET_BIN}:/usr/bin:{self.lab.env['PATH']}"}
        env.update(env_overrides)
        person = dataclasses.replace(self.lab, env=env)
        start = time.monotonic()
        result = person.run(
            "deploy",
            "--app",
            APP,
            "--dns-host",
            DOMAIN,
            *args,
            "--json",
            cwd=cwd or self.directory,
            bin_dir=PSYNET_BIN,
            timeout=1800,
        )
        print(f"deploy {' '.join(args)}: {time.monotonic() - start:.1f} s", file=sys.stderr)
        return result

    def explain(self, result) -> str:
        """Why a deploy failed: the report's errors and the app's last log lines."""
        try:
            errors = json.loads(result.stdout).get("errors")
        except ValueError:
            errors = result.stdout[-2000:]
        logs = self.on_server(f"docker compose -p {APP} logs --tail 40 2>&1", check=False)
        return f"{errors}\n{result.stderr[-2000:]}\n{logs[-6000:]}"

    def on_server(self, command: str, check: bool = True) -> str:
        done = targets.exec_in(
            self.server, "runuser", "-l", "dallinger", "-c", command, check=check
        )
        return done.stdout

    def get(self, path: str, app: str = APP) -> tuple[int, bytes]:
        return get_from(self.server, f"{app}.{DOMAIN}", path)

    def sql(self, query: str) -> str:
        return self.on_server(
            f'docker exec dallinger-postgresql-1 psql -U dallinger -d {APP} -tAc "{query}"'
        ).strip()


def experiment_directory(root: Path) -> Path:
    """examples/psynet as a researcher has it: a git repository (PsyNet requires one), on
    the test bed's offline trixie base (Dallinger's build takes no build arguments)."""
    directory = root / "psynet-experiment"
    shutil.copytree(EXAMPLE, directory)
    dockerfile = directory / "Dockerfile"
    recipe = dockerfile.read_text()
    assert "ARG BASE_IMAGE=debian:trixie-slim\n" in recipe
    dockerfile.write_text(recipe.replace("debian:trixie-slim", targets.ensure_base_image("trixie")))
    commit(directory, "The experiment")
    return directory


def commit(directory: Path, message: str) -> None:
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", message]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *argv],
            cwd=directory,
            check=True,
        )


@pytest.fixture(scope="module")
def bed(tmp_path_factory, ssh_key):
    service_images.build_service_images()
    root = tmp_path_factory.mktemp("psynet")
    address = targets.free_loopback_address()
    with hosts_file.entries([f"{address} {DOMAIN} {APP}.{DOMAIN} {TWIN}.{DOMAIN}"], "dlgr-psynet"):
        server = targets.start_target(
            "dlgr-psynet", address, ssh_key.with_suffix(".pub").read_text()
        )
        try:
            lab = new_researcher(root, ssh_key, tls="internal", **service_images.settings())
            added = lab.run("servers", "add", "--host", address, "--user", "dallinger")
            assert added.returncode == 0, added.stderr
            yield Bed(lab, server, experiment_directory(root))
        finally:
            targets.stop_target(server)
            for image in subprocess.run(
                ["docker", "images", "-q", "--filter", f"reference={BUILT_IMAGES}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split():
                subprocess.run(
                    ["docker", "rmi", "--force", image], capture_output=True, check=False
                )


def test_failed_pre_checks_reach_the_user_in_psynets_words_and_change_nothing(bed, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bed.directory, broken)
    (broken / ".gitignore").unlink()
    leftovers = set(bed.lab.tmp.iterdir())
    result = bed.deploy(*CA, cwd=broken)
    assert_clean_failure(result, ".gitignore is missing from your experiment directory")
    assert "nothing was changed on the server" in result.stderr
    assert bed.on_server(f"ls -d ~/dallinger/{APP} ~/psynet-data 2>/dev/null", False) == ""
    assert set(bed.lab.tmp.iterdir()) == leftovers
    assert not (broken / ".deploy").exists()
    assert not (broken / "source_code.zip").exists()
    # The PostgreSQL and Redis the preparation ran are gone.
    running = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=dlgr-ansible=psynet-preparation"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert running.stdout == ""


def test_a_question_psynet_asks_is_shown_and_answered_no(bed, tmp_path):
    asking = tmp_path / "asking"
    shutil.copytree(bed.directory, asking)
    # PsyNet asks whether to go on when a line names PsyNet's old repository.
    with (asking / "requirements.txt").open("a") as requirements:
        requirements.write("# moved from computational-audition-lab/psynet\n")
    commit(asking, "A note")
    result = bed.deploy(*CA, cwd=asking)
    assert_clean_failure(result, "PsyNet asked: It looks like you're using an old version")
    assert "the answer is no" in result.stderr
    assert bed.on_server(f"ls -d ~/dallinger/{APP} 2>/dev/null", False) == ""


def test_without_a_local_docker_for_psynets_services_the_deploy_says_what_to_do(bed):
    result = bed.deploy(*CA, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert_clean_failure(result, "Start Docker")
    assert bed.on_server(f"ls -d ~/dallinger/{APP} 2>/dev/null", False) == ""
    assert not (bed.directory / ".deploy").exists()


def test_deploy_prepares_sends_the_assets_and_launches(bed):
    leftovers = set(bed.lab.tmp.iterdir())
    result = bed.deploy(*CA)
    assert result.returncode == 0, bed.explain(result)
    report = json.loads(result.stdout)
    assert report["app"]["created"] is True
    inspect = f"docker inspect -f '{{{{.Config.Image}}}}' $(docker compose -p {APP} ps -q web)"
    bed.first_image = bed.on_server(inspect).strip()
    assert set(bed.lab.tmp.iterdir()) == leftovers
    assert not (bed.directory / ".deploy").exists()

    # The cached asset, by its content's md5, and the experiment's own, by deployment.
    listing = bed.on_server("cd ~/psynet-data/assets && find . -type f | sort").split()
    md5 = hashlib.md5(PICTURE).hexdigest()  # noqa: S324 PsyNet's own naming
    assert f"./cached/picture/picture/{md5}.png" in listing, listing
    assert any(path.startswith("./experiments/") and path.endswith(".wav") for path in listing)
    owner = bed.on_server("stat -c '%U %a' ~/psynet-data ~/psynet-data/assets").split("\n")
    assert owner[:2] == ["dallinger 755", "dallinger 755"], owner

    status, body = bed.get(f"/static/assets/cached/picture/picture/{md5}.png")
    assert (status, body) == (200, PICTURE)
    # PsyNet's database template was loaded at /launch: the assets are registered.
    assert int(bed.sql("select count(*) from asset")) >= 2


def test_a_participant_answers_the_picture_page_in_a_real_browser(bed, tmp_path):
    """PsyNet's own pages in headless Chromium, TLS verified against the server's root:
    the picture (the asset) loads, and the answer typed lands in the database."""

    def visit(driver, attempt: int) -> str:
        worker = f"PSYBROWSER{attempt}"
        try:
            driver.get(
                f"https://{APP}.{DOMAIN}/ad?recruiter=generic&assignmentId=PA{attempt}"
                f"&hitId=PH1&workerId={worker}&mode=live"
            )
            wait = WebDriverWait(driver, 60)
            wait.until(clickable((By.ID, "begin-button"))).click()
            # The generic recruiter goes on in the same window (others open a popup).
            wait.until(clickable((By.ID, "consent"))).click()
            wait.until(clickable((By.ID, "text-input"))).send_keys("red")
            picture = driver.find_element(By.CSS_SELECTOR, "img")
            assert driver.execute_script("return arguments[0].naturalWidth", picture) == 8
            wait.until(clickable((By.ID, "next-button"))).click()
            wait.until(lambda d: "A short tone." in d.page_source)
        except Exception:
            shot = tmp_path / f"browser-failure-{attempt}.png"
            driver.save_screenshot(str(shot))
            print(f"screenshot: {shot} ({driver.current_url})", file=sys.stderr)
            print(driver.page_source[-6000:], file=sys.stderr)
            print(bed.lab.run("logs", "--app", APP, "--tail", "40").stdout, file=sys.stderr)
            raise
        return worker

    worker = browser.participate(targets.caddy_root(bed.server).encode(), tmp_path, visit)
    query = "select r.answer from response r join participant p on p.id = r.participant_id"
    answers = bed.sql(f"{query} where p.worker_id = '{worker}' and r.question = 'describe'")
    assert "red" in answers, answers


def test_an_update_of_an_unchanged_experiment_sends_no_asset(bed):
    before = bed.on_server("cd ~/psynet-data/assets && find . | sort")
    result = bed.deploy("--update", *CA)
    assert result.returncode == 0, bed.explain(result)
    sent = json.loads(result.stdout)
    assert bed.on_server("cd ~/psynet-data/assets && find . | sort") == before, sent


def test_data_and_assets_survive_an_update_and_a_recreated_container(bed):
    md5 = hashlib.md5(PICTURE).hexdigest()  # noqa: S324 PsyNet's own naming
    asset = f"/static/assets/cached/picture/picture/{md5}.png"
    (bed.directory / "experiment.py").write_text(
        (bed.directory / "experiment.py").read_text().replace("Thank you.", "Thank you!")
    )
    commit(bed.directory, "A code change")
    result = bed.deploy("--update", *CA)
    assert result.returncode == 0, bed.explain(result)
    assert bed.get(asset) == (200, PICTURE)
    # A restart hands the traffic to a new web container.
    restarted = bed.lab.run("restart", "--app", APP, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert bed.get(asset) == (200, PICTURE)
    # The participant's answer (the browser test) is kept.
    assert "red" in bed.sql("select answer from response where question = 'describe'")


def test_export_is_psynets_own_and_psynets_load_reads_it(bed):
    """PsyNet's export run by the app, in `psynet export ssh`'s layout plus logs.jsonl;
    PsyNet's own `psynet load` fills a fresh database from it, the browser's answer in it."""
    result, report = bed.lab.run_json("export", "--app", APP, cwd=bed.directory, timeout=600)
    assert result.returncode == 0, report["errors"]
    assert report["export"]["format"] == "psynet"
    folder = Path(report["export"]["path"])
    assert folder.parent == bed.directory / "data"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    for part in ("data.zip", "source_code.zip", "logs.jsonl", "anonymous/database.zip"):
        assert (folder / part).is_file(), part
    assert list((folder / "regular" / "assets").rglob("*.wav"))
    # The server keeps no copy: the file PsyNet wrote is emptied, PsyNet's own one removed.
    assert bed.on_server(f"stat -c '%s %a' ~/dallinger/{APP}/psynet.zip").split() == ["0", "600"]
    # PsyNet made its store (so the search below can find a copy), and no copy is left.
    store = "$HOME/psynet-data/artifacts/deployments"
    copies = f"docker compose -p {APP} exec -T web sh -c 'test -d {store} && find {store} -type f'"
    assert bed.on_server(copies) == ""

    settings = service_images.settings()
    images = (settings["docker_postgresql_image"], settings["docker_redis_image"])
    # Read back with the experiment environment's SQLAlchemy, as PsyNet reads its database.
    read = (
        "import os, sqlalchemy\n"
        "engine = sqlalchemy.create_engine(os.environ['DATABASE_URL'])\n"
        "with engine.connect() as c:\n"
        "    q = sqlalchemy.text(\"select answer from response where question = 'describe'\")\n"
        "    print(*c.execute(q).scalars())"
    )
    with psynet.local_services(*images) as services:
        env = {**bed.lab.env, **services}
        load = subprocess.run(
            [str(PSYNET_BIN / "psynet"), "load", str(folder / "regular" / "database.zip")],
            cwd=bed.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert load.returncode == 0, load.stdout[-2000:] + load.stderr[-3000:]
        answers = subprocess.run(
            [str(PSYNET_BIN / "python"), "-c", read],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    assert "red" in [json.loads(answer) for answer in answers], answers  # PsyNet stores JSON

    # Again: the file is emptied in place, so the container writes where the server reads.
    again, report = bed.lab.run_json("export", "--app", APP, cwd=bed.directory, timeout=600)
    assert again.returncode == 0, report["errors"]
    assert Path(report["export"]["path"]) != folder
    assert (Path(report["export"]["path"]) / "regular" / "database.zip").is_file()
    inside = f"docker compose -p {APP} exec -T web stat -c %s /experiment/psynet.zip"
    assert bed.on_server(inside).strip() == "0"

    dallinger = bed.lab.run("export", "--app", APP, "--format", "dallinger", cwd=bed.directory)
    assert dallinger.returncode == 0, dallinger.stderr[-3000:]
    assert (bed.directory / "data" / f"{APP}-data.zip").is_file()
    refused = bed.lab.run("export", "--app", APP, "--format", "psynet", "--no-scrub")
    assert_clean_failure(refused, "--no-scrub is for Dallinger's zip")


def test_psql_opens_the_apps_own_database_as_its_own_role(bed):
    who = bed.lab.run("psql", "--app", APP, "--", "-tAc", "select current_user, current_database()")
    assert (who.returncode, who.stdout.strip()) == (0, f"{APP}|{APP}"), who.stderr
    superuser = bed.lab.run(
        "psql",
        "--app",
        APP,
        "--",
        "-tAc",
        "select rolsuper from pg_roles where rolname = current_user",
    )
    assert superuser.stdout.strip() == "f", superuser.stderr
    missing = bed.lab.run("psql", "--app", "psy-none", "--", "-c", "select 1")
    assert_clean_failure(missing, "no app psy-none")


def get_from(server: targets.Target, host: str, path: str) -> tuple[int, bytes]:
    """GET https://<host>/<path> on `server`'s port 443, verified against its Caddy root."""
    connection = http.client.HTTPSConnection(
        host, 443, context=targets.caddy_tls(server), timeout=30
    )
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def move(bed: Bed, source: str, target: str, domain: str) -> dict:
    start = time.monotonic()
    result, report = bed.lab.run_json(
        "move", "--app", APP, "--server", source, "--to", target, "--dns-host", domain,
        "--remove-source", "--yes", timeout=1800,
    )  # fmt: skip
    print(f"move {source} -> {target}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    assert result.returncode == 0, (report["errors"], result.stderr[-3000:])
    assert report["removed"] is True
    return report


def test_destroy_backs_up_then_removes_the_app_and_keeps_assets_another_app_names(bed):
    """Destroying one of two apps whose databases name the same asset folder backs the
    folder up with it and keeps it for the other."""
    md5 = hashlib.md5(PICTURE).hexdigest()  # noqa: S324 PsyNet's own naming
    own = bed.on_server("ls ~/psynet-data/assets/experiments").split()
    assert len(own) == 1, own  # the first deploy's; updates send none
    # A second app from the first deploy's image: its database names the same folder.
    twin, report = bed.lab.run_json(
        "deploy",
        "--app",
        TWIN,
        "--image",
        bed.first_image,
        "--dns-host",
        DOMAIN,
        cwd=bed.directory,
        timeout=900,
    )
    assert twin.returncode == 0, report["errors"]

    result, report = bed.lab.run_json("destroy", "--app", TWIN, "--yes", timeout=600)
    assert result.returncode == 0, report["errors"]
    backup = Path(report["backup"])
    assets = backup.with_name(backup.stem + "-assets.tar.gz")
    assert oct(assets.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(assets) as archive:
        names = archive.getnames()
    assert any(name.endswith(".wav") and own[0] in name for name in names), names
    # Kept: the first app's database names the folder too.
    assert bed.on_server("ls ~/psynet-data/assets/experiments").split() == own
    assert bed.get(f"/static/assets/cached/picture/picture/{md5}.png") == (200, PICTURE)
    left = f"ls -d ~/dallinger/{TWIN} ~/dallinger-data/{TWIN} 2>/dev/null"
    assert bed.on_server(left, check=False) == ""


def test_move_carries_the_app_and_every_asset_it_uses_and_removes_the_rest(bed, ssh_key):
    """The cached picture stays on the old server (it is shared), yet the app serves it on
    the new one; its own assets and the participant's answer go along. The old server
    keeps no folder no app names any more. (Last: the app leaves the module's server.)"""
    md5 = hashlib.md5(PICTURE).hexdigest()  # noqa: S324 PsyNet's own naming
    asset = f"/static/assets/cached/picture/picture/{md5}.png"
    own = bed.on_server("ls ~/psynet-data/assets/experiments").split()
    answer = "select answer from response where question = 'describe'"
    address = targets.free_loopback_address()
    other = targets.start_target(
        "dlgr-psynet-new", address, ssh_key.with_suffix(".pub").read_text()
    )
    try:
        with hosts_file.entries([f"{address} {APP}.{MOVED_DOMAIN}"], "dlgr-psynet-move"):
            added = bed.lab.run("servers", "add", "--host", address, "--user", "dallinger")
            assert added.returncode == 0, added.stderr
            move(bed, bed.server.address, address, MOVED_DOMAIN)
            assert get_from(other, f"{APP}.{MOVED_DOMAIN}", asset) == (200, PICTURE)
            moved = dataclasses.replace(bed, server=other)
            assert moved.on_server("ls ~/psynet-data/assets/experiments").split() == own
            assert "red" in moved.sql(answer)
            # Gone from the old server with its own assets; the cached picture stays.
            assert bed.on_server("ls ~/psynet-data/assets/experiments") == ""
            assert bed.on_server(f"ls ~/psynet-data/assets/cached{asset.split('cached')[1]}")
            left = f"ls -d ~/dallinger/{APP} ~/dallinger-data/{APP} 2>/dev/null"
            assert bed.on_server(left, check=False) == ""
    finally:
        bed.lab.run("servers", "remove", "--host", address)
        targets.stop_target(other)
