"""What `move` carries from the server an app leaves to its new one: the app's settings,
as compose resolved them there, turned back into the dallinger_app role's variables;
where its backup goes on this machine; and the check that the copy has every row."""

import json
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dlgr_ansible import validate
from dlgr_ansible.errors import DlgrError

# Written by the role on every server, for that server: not carried.
SERVER_KEYS = frozenset({"DATABASE_URL", "REDIS_URL", "HOME", "HOST", "host", "PORT"})
# Carried, but as secrets the new app takes rather than settings (dallinger_app_secrets):
# the participants' sessions and the experiment's id stay valid.
SECRET_KEYS = ("FLASK_SECRET_KEY", "DALLINGER_UID")
# Mounts the role makes itself (templates/docker-compose.yml.j2); any other is the
# researcher's docker_volumes.
ROLE_MOUNTS = frozenset(
    {
        "/var/lib/dallinger",
        "/experiment/logs.jsonl",
        "/psynet-data/assets",
        "/experiment/static/assets",
        "/experiment/psynet.zip",
    }
)
PSYNET_MOUNT = "/psynet-data/assets"
# The label the role gives an app's pgbouncer: the app runs as this tool deployed it.
OURS_LABEL = "dlgr.settings-hash"
WORKER = re.compile(r"worker_[0-9]+")


@dataclass(frozen=True)
class MovedApp:
    """The app as it ran on the server it leaves."""

    name: str
    variables: dict  # the dallinger_app role's, but where and how it is served

    @property
    def image(self) -> str:
        return self.variables["dallinger_app_image"]

    @property
    def environment(self) -> dict:
        return self.variables["dallinger_app_environment"]


def backup_path(name: str, folder: Path | None = None) -> Path:
    """data/<app>-move-<time>.zip: the backup a move takes, kept here whatever happens."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return ((folder or Path("data")) / f"{name}-move-{stamp}.zip").absolute()


def parts(backup: Path) -> dict[str, Path]:
    """The backup's files beside its zip, as the dallinger_export role names them."""
    stem = backup.with_suffix("")
    return {
        "dump": stem.with_name(stem.name + ".pgdump"),
        "files": stem.with_name(stem.name + "-files.tar.gz"),
        "assets": stem.with_name(stem.name + "-assets.tar.gz"),
    }


def archive_to_unpack(path: Path, *prefixes: str) -> str:
    """`path` when it is a tar.gz with something in it; "" when it is absent or empty (an
    empty data folder: Ansible's unarchive refuses such an archive). It comes from the old
    server and is unpacked into a folder other apps share: it may hold only files and
    folders, each under one of `prefixes` ("<app>/", "experiments/", ...)."""
    if not path.is_file():
        return ""
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = archive.getmembers()
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise DlgrError(f"The backup {path} is not readable ({exc}); nothing was moved.") from exc
    for member in members:
        name = member.name.removeprefix("./")
        inside = any(name == p.rstrip("/") or name.startswith(p) for p in prefixes)
        if (
            not inside
            or ".." in PurePosixPath(name).parts
            or not (member.isfile() or member.isdir())
        ):
            raise DlgrError(
                f"The backup {path} holds {member.name!r}, which is not a file or folder under "
                f"{' or '.join(prefixes)}; it was not unpacked and nothing was moved."
            )
    return str(path) if members else ""


def read_settings(path: Path, name: str, server: str) -> MovedApp:
    """The app's settings from `docker compose config --format json` on `server`."""
    try:
        services = json.loads(path.read_text(encoding="utf-8"))["services"]
        web = services["web"]
        redis, pgbouncer = services["redis"], services["pgbouncer"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DlgrError(
            f"The settings of {name} on {server} could not be read ({exc}); nothing was "
            "moved. Check the app with `dlgr-ansible apps`."
        ) from exc
    if OURS_LABEL not in (pgbouncer.get("labels") or {}):
        raise DlgrError(
            f"{name} on {server} runs as another tool (`dallinger docker-ssh`) deployed it. "
            f"Update it with `dlgr-ansible deploy --update --app {name}` first, then move it."
        )
    environment = dict(web.get("environment") or {})
    workers = sorted(service for service in services if WORKER.fullmatch(service))
    volumes = [_volume(mount) for mount in web.get("volumes") or []]
    variables = {
        "dallinger_app_image": validate.image(web["image"]),
        "dallinger_app_environment": {
            key: _unescaped(value)
            for key, value in environment.items()
            if key not in SERVER_KEYS and key not in SECRET_KEYS
        },
        "dallinger_app_secrets": {
            key: str(environment[key]) for key in SECRET_KEYS if environment.get(key)
        },
        "dallinger_app_workers": len(workers),
        "dallinger_app_worker_cpu_shares": int(
            services[workers[0]].get("cpu_shares", 1024) if workers else 1024
        ),
        "dallinger_app_clock": "clock" in services,
        "dallinger_app_volumes": [spec for target, spec in volumes if target not in ROLE_MOUNTS],
        "dallinger_app_psynet": any(target == PSYNET_MOUNT for target, _ in volumes),
        "dallinger_app_redis_image": validate.image(redis["image"]),
        "dallinger_app_pgbouncer_image": validate.image(pgbouncer["image"]),
    }
    return MovedApp(name=name, variables=variables)


def _unescaped(value) -> str:
    """A value as the app gets it: compose's output writes each "$" of it as "$$"."""
    return "" if value is None else str(value).replace("$$", "$")


def _volume(mount) -> tuple[str, str]:
    """(target, "source:target[:ro]") of a mount in compose's long form."""
    if isinstance(mount, str):  # short form, "source:target[:mode]"
        pieces = mount.split(":")
        return (pieces[1] if len(pieces) > 1 else pieces[0]), mount
    target = mount["target"]
    spec = f"{mount.get('source', '')}:{target}" if mount.get("source") else target
    return target, spec + (":ro" if mount.get("read_only") else "")


def check_rows(name: str, source: dict | None, target: dict | None, where: tuple[str, str]) -> int:
    """The copy on where[1] has the same tables with the same rows as the app on where[0]
    (`{"schema.table": {"rows", "sum"}}` each, from the role's `rows` tasks); the rows in
    all."""
    if source is None or target is None:
        missing = where[0] if source is None else where[1]
        raise DlgrError(f"The rows of {name} on {missing} were not counted.")
    differing = [
        _difference(table, source.get(table), target.get(table), where[1])
        for table in sorted(set(source) | set(target))
        if source.get(table) != target.get(table)
    ]
    if differing:
        raise DlgrError(
            f"The copy of {name} on {where[1]} differs from the app on {where[0]}: "
            f"{', '.join(differing)}."
        )
    return sum(int(table["rows"]) for table in source.values())


def _difference(table: str, old: dict | None, new: dict | None, copy: str) -> str:
    if old is None:
        return f"{table} only on {copy}"
    if new is None:
        return f"{table} missing on {copy}"
    if old["rows"] != new["rows"]:
        return f"{table} {old['rows']} rows -> {new['rows']}"
    return f"{table} as many rows ({old['rows']}), other contents"
