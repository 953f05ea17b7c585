"""The apps on this server, as `dallinger docker-ssh apps` finds them, as JSON on stdout.
Read-only; needs nothing but Python 3 and the docker command (run as root when this user
cannot: not in the docker group yet).

    python3 apps.py ROOT SITES_DIR COMPOSE_FILE

An app is a Caddy site ROOT/SITES_DIR/<app> or a compose file ROOT/<app>/COMPOSE_FILE.
Keys: `site_files` (every site file), `sites` ("<path>\\t<first line that is not blank
or a comment>", the site's address), `compose_files` (the shared stack's
ROOT/COMPOSE_FILE left out), `compose_images` (the image of the web service, read from
the compose file, of each app no web container is left of: the containers say it for
the others) and `containers` ("project\\tservice\\tstate\\timage" of every container of a
compose project). Compose files made by Dallinger hold the apps' secrets: nothing but
the image is read out of them. Exits 1 when there are apps and Docker does not answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys


# As capacity.py's: each of these scripts is sent alone (raw `python3 -c`), so they share
# no module.
def docker(*args: str) -> str | None:
    """docker's output, as this user or else as root (passwordless sudo); None when Docker
    is missing or answers neither."""
    if shutil.which("docker") is None:
        return None
    for become in ([], ["sudo", "-n"]):
        try:
            done = subprocess.run(
                [*become, "docker", *args], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return done.stdout
    return None


def files_and_folders(folder: str) -> list[str]:
    """What `folder` holds, hidden names left out, sorted; nothing when it is missing."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(os.path.join(folder, name) for name in names if not name.startswith("."))


def files_in(folder: str) -> list[str]:
    return [path for path in files_and_folders(folder) if os.path.isfile(path)]


def address_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.strip() and not line.lstrip().startswith("#"):
                    return line.rstrip("\n")
    except OSError:
        pass
    return None


def compose_document(compose_file: str):
    """The compose file as compose reads it (anchors and merge keys resolved): by PyYAML
    when the server has it, else by compose itself; None when neither can."""
    try:
        import yaml  # not on every server
    except Exception:  # any broken PyYAML too: compose reads it instead
        printed = docker("compose", "-f", compose_file, "config", "--format", "json")
        try:
            return json.loads(printed or "")
        except ValueError:
            return None
    try:
        with open(compose_file, encoding="utf-8") as text:
            return yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def web_image(compose_file: str) -> str | None:
    """The image of the file's web service, if it names one."""
    document = compose_document(compose_file)
    services = document.get("services") if isinstance(document, dict) else None
    web = services.get("web") if isinstance(services, dict) else None
    image = web.get("image") if isinstance(web, dict) else None
    return str(image) if image else None


root, sites_dir, compose_name = sys.argv[1:4]
site_files = files_in(os.path.join(root, sites_dir))
sites = [f"{path}\t{line}" for path in site_files if (line := address_line(path)) is not None]
compose_files = [
    path
    for folder in files_and_folders(root)
    for path in [os.path.join(folder, compose_name)]
    if os.path.isfile(path)
]
containers: list[str] = []
if site_files or compose_files:  # none: no apps, and maybe no Docker yet (a new server)
    listed = docker(
        "ps",
        "--all",
        "--filter",
        "label=com.docker.compose.project",
        "--format",
        '{{.Label "com.docker.compose.project"}}\t{{.Label "com.docker.compose.service"}}'
        "\t{{.State}}\t{{.Image}}",
    )
    if listed is None:  # the apps are there, their containers cannot be told
        sys.exit("docker ps answered neither this user nor root (sudo -n): is Docker running?")
    containers = listed.splitlines()
with_web = {line.split("\t")[0] for line in containers if line.split("\t")[1:2] == ["web"]}
compose_images = {}
for path in compose_files:
    app = os.path.basename(os.path.dirname(path))
    if app not in with_web:
        compose_images[app] = web_image(path) or "-"
print(
    json.dumps(
        {
            "site_files": site_files,
            "sites": sites,
            "compose_files": compose_files,
            "compose_images": compose_images,
            "containers": containers,
        }
    )
)
