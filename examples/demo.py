"""`make demo`: the sample experiment in examples/hello, deployed to a rehearsal server here.

Starts `dlgr-ansible local-server`, builds the experiment image, deploys it as app
"demo" in sandbox mode through the real CLI, checks that its URL answers over
verified HTTPS, and prints what to open and how to tear it all down. Run again, it
updates the same app (about a minute).

Without Docker Hub (this project's CI machines), the base images are built with
debootstrap and the shared stack runs the test bed's service images, built from
Debian packages; with Docker Hub the official images are used.

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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from dlgr_ansible import container_server, local_server  # noqa: E402
from dlgr_ansible.build import CA_IN_CONTEXT  # noqa: E402

EXPERIMENT = REPO_ROOT / "examples" / "hello"
APP = "demo"
IMAGE = "dlgr-demo/hello:1"
ONLINE_BASE = "debian:bookworm-slim"
OFFLINE_BASE = "dlgr-ansible/debian-base:bookworm"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


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


def offline_settings() -> dict[str, str]:
    """Config for a machine without Docker Hub: Debian's Docker packages (Docker's own
    repository is out of reach too) and the test bed's service images."""
    from tests.testbed import service_images

    service_images.build_service_images()
    return {
        "docker_engine_source": "distribution",
        "docker_postgresql_image": service_images.POSTGRES_IMAGE,
        "docker_caddy_image": service_images.CADDY_IMAGE,
        "docker_dozzle_image": service_images.DOZZLE_IMAGE,
        "docker_redis_image": service_images.REDIS_IMAGE,
        "docker_pgbouncer_image": service_images.PGBOUNCER_IMAGE,
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
            *(part for key, value in settings.items() for part in ("-c", key, value)),
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
        lines = "\n".join(f"    {key} = {value}" for key, value in settings.items())
        print(
            "  Without Docker Hub, deploys of your own to this rehearsal server need the\n"
            "  settings the demo used (add them to config.txt or ~/.dallingerconfig):\n"
            f"{lines}\n"
        )


if __name__ == "__main__":
    main()
