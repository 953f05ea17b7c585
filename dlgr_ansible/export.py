"""Where exports and backups go on this machine, and how they are checked."""

import time
import zipfile
from pathlib import Path

from dlgr_ansible.errors import DlgrError

TABLES = (
    "info",
    "network",
    "node",
    "notification",
    "participant",
    "question",
    "transformation",
    "transmission",
    "vector",
)


# --format: what dallinger_export_format takes.
FORMATS = ("auto", "dallinger", "psynet")
# The key dallinger_export reports the export under (set_stats), keyed by host.
EXPORT_KEY = "dlgr_export"


def export_path(name: str, output: str | None) -> Path:
    """data/<app>-data.zip under --output or the current directory, as Dallinger writes it."""
    return (Path(output or ".") / "data" / f"{name}-data.zip").absolute()


def psynet_export_path(name: str, output: str | None) -> Path:
    """A new folder for each PsyNet export, as `psynet export` makes one."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (Path(output or ".") / "data" / f"{name}-psynet-{stamp}").absolute()


def backup_path(name: str) -> Path:
    """A new file for each destroy, so no earlier export is overwritten."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (Path("data") / f"{name}-backup-{stamp}.zip").absolute()


def export_variables(
    name: str,
    zip_path: Path,
    scrub: bool = True,
    export_format: str = "dallinger",
    psynet_folder: Path | None = None,
) -> dict:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    variables = {
        "dallinger_export_app": name,
        "dallinger_export_dest": str(zip_path),
        "dallinger_export_scrub": scrub,
        "dallinger_export_format": export_format,
    }
    if psynet_folder:
        variables["dallinger_export_psynet_dest"] = str(psynet_folder)
    return variables


def destroy_variables(name: str, backup: Path | None) -> dict:
    variables = {"dallinger_app_name": name, "dallinger_destroy_backup": backup is not None}
    if backup:
        variables |= export_variables(name, backup, scrub=False)
    return variables


def check_export(path: Path, name: str) -> None:
    """The zip is whole and is an export of `name`."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            found = archive.read("experiment_id.md").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise DlgrError(f"The export {path} is not usable: {exc}") from exc
    if damaged or found != name:
        raise DlgrError(
            f"The export {path} is not usable: "
            + (f"{damaged} is damaged." if damaged else f"it holds app {found!r}, not {name!r}.")
        )


def check_psynet_export(folder: Path) -> None:
    """PsyNet's zip is whole and its database.zip (Dallinger's zip of every table, PsyNet's
    included) is there, in regular/ or anonymous/."""
    try:
        with zipfile.ZipFile(folder / "data.zip") as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise DlgrError(f"PsyNet's export in {folder} is not usable: {exc}") from exc
    databases = {"regular/database.zip", "anonymous/database.zip"} & names
    if damaged or not databases:
        raise DlgrError(
            f"PsyNet's export in {folder} is not usable: "
            + (f"{damaged} is damaged." if damaged else "it holds no database.zip.")
        )
    for database in sorted(databases):
        if not (folder / database).is_file():
            raise DlgrError(f"PsyNet's export in {folder} was not unpacked: {database} is missing.")
