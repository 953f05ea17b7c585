"""`make demo`: the sample experiment in examples/hello, deployed to a rehearsal server here.

Starts `dlgr-ansible local-server`, builds the experiment image, deploys it as app
"demo" in sandbox mode through the real CLI, checks that its URL answers over
verified HTTPS, and prints what to open and how to tear it all down. Run again, it
updates the same app (about a minute).

Without Docker Hub (this project's CI machines), the base images are built with
debootstrap and the shared stack runs stand-ins for the official service images,
built from Debian packages (recipes in local_server/service-images/, shipped with
the package); with Docker Hub the official images are used.

pip inside the image build trusts DLGR_CA_BUNDLE (a file; empty: none), by default
this machine's /etc/ssl/certs/ca-certificates.crt, for TLS-intercepting proxies.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dlgr_ansible import container_server, local_server, server_settings
from dlgr_ansible.build import CA_IN_CONTEXT

EXPERIMENT = Path(__file__).resolve().parent / "hello"
APP = "demo"
IMAGE = "dlgr-demo/hello:1"
# The experiment's base image (bookworm, as Dallinger's own images); the server and
# the stand-ins below build on the rehearsal server's trixie base.
ONLINE_BASE = "debian:bookworm-slim"
OFFLINE_BASE = "dlgr-ansible/debian-base:bookworm"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Service images for a machine without Docker Hub: config key -> (recipe, tag).
STAND_INS = {
    "docker_postgresql_image": ("postgres", "dlgr-ansible/postgres:17"),
    "docker_caddy_image": ("caddy", "dlgr-ansible/caddy:2"),
    "docker_dozzle_image": ("dozzle", "dlgr-ansible/dozzle:stand-in"),
    "docker_redis_image": ("redis", "dlgr-ansible/redis:8"),
    "docker_pgbouncer_image": ("pgbouncer", "dlgr-ansible/pgbouncer:1"),
}
# Recipes whose build needs an installed package's version, as the official image
# pins it: recipe -> (build arg, Debian package, stage that installs it).
VERSION_ARGS = {"postgres": ("PG_VERSION", "postgresql-17", "packages")}


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def dlgr(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, run in the experiment directory so its config.txt applies."""
    return subprocess.run(
        [sys.executable, "-m", "dlgr_ansible", *args],
        cwd=EXPERIMENT,
        text=True,
        stdout=subprocess.PIPE,
        check=False,
    )


def must(proc: subprocess.CompletedProcess[str]) -> str:
    if proc.returncode != 0:
        sys.exit(f"demo: `dlgr-ansible {' '.join(proc.args[3:5])}` failed (see above).")
    return proc.stdout


def docker_hub_reachable() -> bool:
    if container_server.image_id(ONLINE_BASE):
        return True
    return container_server.docker("pull", ONLINE_BASE, check=False).returncode == 0


def ca_bundle() -> Path | None:
    configured = os.environ.get("DLGR_CA_BUNDLE")
    if configured is not None:
        return Path(configured) if configured else None
    return SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None


def build_experiment(base: str) -> None:
    """docker build examples/hello, with the CA bundle in a temporary copy of the context."""
    with tempfile.TemporaryDirectory(prefix="dlgr-demo-") as tmp:
        context = Path(tmp) / "hello"
        shutil.copytree(EXPERIMENT, context)
        bundle = ca_bundle()
        if bundle is not None:
            shutil.copyfile(bundle, context / CA_IN_CONTEXT)
        container_server.build(context, base, f"--tag={IMAGE}")


def build_stand_in(recipe: str, tag: str) -> None:
    """Build one stand-in on the offline base unless it was built from these files."""
    context = container_server.service_images_dir() / recipe
    pinned = VERSION_ARGS.get(recipe)
    if pinned is None:
        container_server.build_cached(context, local_server.OFFLINE_BASE, tag)
        return
    wanted = container_server.context_hash(context, local_server.OFFLINE_BASE)
    previous = container_server.image_id(tag)
    if previous and container_server.image_label(tag) == wanted:
        return
    arg, package, stage = pinned
    stage_id = container_server.build(context, local_server.OFFLINE_BASE, f"--target={stage}")
    version = container_server.docker(
        "run",
        "--rm",
        "--entrypoint=dpkg-query",
        stage_id,
        "--showformat=${Version}",
        "--show",
        package,
    ).stdout.strip()
    container_server.build(
        context,
        local_server.OFFLINE_BASE,
        f"--build-arg={arg}={version}",
        f"--label={container_server.CONTEXT_LABEL}={wanted}",
        f"--tag={tag}",
    )
    if previous and previous != container_server.image_id(tag):
        container_server.docker("rmi", previous, check=False)  # the outdated one, now untagged


def offline_settings() -> dict[str, str]:
    """Config for a machine without Docker Hub: Debian's Docker packages (Docker's own
    repository is out of reach too) and stand-ins for the service images, built here
    and sent to the server over SSH."""
    container_server.build_base(local_server.OFFLINE_BASE, local_server.SUITE)  # if missing
    # In parallel: a cold build is mostly package downloads and layer commits.
    with ThreadPoolExecutor(max_workers=len(STAND_INS)) as pool:
        builds = [pool.submit(build_stand_in, *spec) for spec in STAND_INS.values()]
    for build in builds:
        build.result()  # re-raises the first failure
    return {
        "docker_engine_source": "distribution",
        **{key: tag for key, (_, tag) in STAND_INS.items()},
    }


def app_exists() -> bool:
    report = json.loads(must(dlgr("apps", "--server", local_server.HOST, "--json")))
    return any(app.get("name") == APP for app in report.get("apps", []))


def check_url(url: str, cafile: Path) -> int:
    """GET the URL as a browser would, trusting the rehearsal server's CA."""
    context = ssl.create_default_context(cafile=str(cafile))
    for _ in range(30):
        try:
            with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310
                return response.status
        except OSError:
            time.sleep(1)
    with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310
        return response.status


def main() -> None:
    started = time.monotonic()
    online = docker_hub_reachable()
    if not online:
        say("Docker Hub is not reachable: base images come from debootstrap")
    say("Starting the rehearsal server")
    must(dlgr("local-server", "up", *([] if online else ["--offline"])))

    say(f"Building {IMAGE} from examples/hello")
    base = ONLINE_BASE
    if not online:
        base = OFFLINE_BASE
        container_server.build_base(OFFLINE_BASE, "bookworm")
    build_experiment(base)
    settings = {} if online else offline_settings()
    if settings:  # saved with the rehearsal server: every later command uses them too
        options = server_settings.BY_KEY
        must(
            dlgr(
                "servers",
                "set",
                "--server",
                local_server.HOST,
                *(part for key, value in settings.items() for part in (options[key].option, value)),
            )
        )

    update = app_exists()
    say(f"Updating app {APP}" if update else f"Deploying app {APP} (this takes minutes)")
    must(
        dlgr(
            "sandbox",
            "--server",
            local_server.HOST,
            "--app",
            APP,
            "--image",
            IMAGE,
            *(["--update"] if update else []),
        )
    )

    cafile = local_server.local_dir() / "caddy-root.crt"
    cafile.write_bytes(local_server.caddy_root())
    https_port = local_server.status().ports.https
    url = f"https://{APP}.localhost:{https_port}/"
    # What Dallinger's hot-air recruiter opens for a new participant.
    entry = f"{url}ad?recruiter=hotair&generate_tokens=1&mode=sandbox"
    status = check_url(entry, cafile)
    minutes = (time.monotonic() - started) / 60
    print(
        f"""
The demo experiment is running ({minutes:.1f} min; HTTP {status} from its entry page).

  Open in a browser on this machine:
    {entry}
  or: curl -L --cacert {cafile} '{entry}'
  The certificate comes from the rehearsal server's own CA ({cafile});
  trust it in your browser, or accept the warning once.
  Dashboard: {url}dashboard (user admin; the password was printed above
  the first time, and is in ~/.dallinger/dlgr-ansible/{local_server.HOST}/{APP}-dashboard)

  Tear it all down:
    .venv/bin/dlgr-ansible destroy --server {local_server.HOST} --app {APP} --yes --no-backup
    .venv/bin/dlgr-ansible local-server down
"""
    )
    if settings:
        print(
            "  Without Docker Hub, the rehearsal server uses Debian's Docker packages and\n"
            "  service images built here; they are saved with it (`.venv/bin/dlgr-ansible\n"
            "  servers list`), so your own deploys to it use them too.\n"
        )


if __name__ == "__main__":
    main()
