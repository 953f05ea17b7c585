"""The apps on a server, as Dallinger finds them, from what apps.yml hands back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

UNKNOWN = "-"
RUNNING = "running"
INACTIVE = "inactive"
# What `docker ps` without --all lists, and so what Dallinger counts as running.
_UP_STATES = {"running", "restarting", "paused"}
# The key apps.yml hands its report back under (set_stats), keyed there by inventory host.
APPS_KEY = "dlgr_apps"


@dataclass(frozen=True)
class AppInfo:
    name: str
    state: str
    url: str
    image: str
    server: str = ""  # the saved server it runs on

    def to_json(self) -> dict:
        return asdict(self)


def site_url(first_line: str, https_port: int = 443) -> str:
    """The URL a Caddy site file serves, from its first line `<address>[, ...] {`.

    `https_port`: where the server's port 443 is reached from here (a rehearsal server).
    """
    address = first_line.strip().removesuffix("{").strip()
    address = address.split(",")[0].split()[0] if address else ""
    if not address or address.startswith(("(", "{", "#", "import")):
        return UNKNOWN
    if address.startswith(("http://", "https://")):
        return address if address.endswith("/") else address + "/"
    port = "" if https_port == 443 or ":" in address else f":{https_port}"
    return f"https://{address}{port}/"


def parse_containers(lines: list[str]) -> list[dict]:
    """`docker ps --all` rows of `project<TAB>service<TAB>state<TAB>image`."""
    containers = []
    for line in lines:
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0]:
            continue
        project, service, state, image = fields
        containers.append({"project": project, "service": service, "state": state, "image": image})
    return containers


def app_names(sites: list[str], compose_dirs: list[str]) -> list[str]:
    """Every app, as Dallinger finds them: a Caddy site file or a compose file under ~/dallinger.

    Names that cannot be app names (editor backups, hidden files) are left out.
    """
    names = {Path(p).name for p in sites} | {Path(p).name for p in compose_dirs}
    return sorted(n for n in names if n and not n.startswith(".") and not n.endswith("~"))


def apps_from_server(data: dict, https_port: int = 443, server: str = "") -> list[AppInfo]:
    """The apps.yml playbook's report for one server, running apps first."""
    # "<site file path>\t<its first line>", as awk prints them
    sites = dict(line.split("\t", 1) for line in data.get("sites") or [] if "\t" in line)
    compose_files = data.get("compose_files") or []
    compose_images = data.get("compose_images") or {}  # app -> image of its web service
    containers = parse_containers(data.get("containers") or [])
    site_lines = {Path(path).name: line for path, line in sites.items()}
    site_files = [*sites, *(data.get("site_files") or [])]  # an empty one has no first line
    names = app_names(site_files, [str(Path(p).parent) for p in compose_files])
    apps = []
    for name in names:
        own = [c for c in containers if c["project"] == name]
        running = any(c["state"] in _UP_STATES for c in own)
        web = [c for c in own if c["service"] == "web"]
        web_up = [c for c in web if c["state"] in _UP_STATES]
        image = (web_up or web or [{}])[0].get("image") or compose_images.get(name) or UNKNOWN
        line = site_lines.get(name)
        apps.append(
            AppInfo(
                name=name,
                state=RUNNING if running else INACTIVE,
                url=site_url(line, https_port) if line is not None else UNKNOWN,
                image=str(image),
                server=server,
            )
        )
    return sorted(apps, key=lambda app: (app.state != RUNNING, app.name))
