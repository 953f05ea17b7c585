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


def export_path(name: str, output: str | None) -> Path:
    """data/<app>-data.zip under --output or the current directory, as Dallinger writes it."""
    return (Path(output or ".") / "data" / f"{name}-data.zip").absolute()


def backup_path(name: str) -> Path:
    """A new file for each destroy, so no earlier export is overwritten."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (Path("data") / f"{name}-backup-{stamp}.zip").absolute()


def export_variables(name: str, zip_path: Path, scrub: bool = True) -> dict:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "dallinger_export_app": name,
        "dallinger_export_dest": str(zip_path),
        "dallinger_export_scrub": scrub,
    }


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
