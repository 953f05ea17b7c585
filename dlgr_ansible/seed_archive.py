"""The zip given to `deploy --archive`, checked on this machine before it is sent: a
Dallinger export (experiment_id.md and every table as a CSV with its header row), with
no member that would land outside a folder it were unpacked into."""

import csv
import io
import re
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from dlgr_ansible.errors import DlgrError
from dlgr_ansible.export import TABLES

# A column name as COPY ... CSV HEADER writes it: any text but control characters (an
# experiment's own columns may be mixed case, or not ASCII).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A header row is short; a first line longer than this is data, or not a CSV.
_HEADER_BYTES = 64 * 1024
_HOW = "Use a zip made by `dlgr-ansible export` or `dallinger export`."


def experiment_id(archive: Path) -> str:
    """The experiment id of the export `archive`, once it has passed every check."""
    try:
        with zipfile.ZipFile(archive) as handle:
            names = handle.namelist()
            _no_escaping_member(archive, names)
            missing = [
                name
                for name in ("experiment_id.md", *(f"data/{t}.csv" for t in TABLES))
                if name not in names
            ]
            if missing:
                raise DlgrError(
                    f"{archive} is not an export of a Dallinger app: it lacks "
                    f"{' '.join(missing)}. {_HOW}"
                )
            damaged = handle.testzip()
            if damaged:
                raise DlgrError(f"{archive} is damaged: {damaged} does not read back. {_HOW}")
            for table in TABLES:
                _has_header(archive, handle, f"data/{table}.csv")
            return handle.read("experiment_id.md").decode("utf-8").strip()
    # Encrypted members and unknown compression raise RuntimeError, NotImplementedError.
    except (
        zipfile.BadZipFile,
        zlib.error,
        UnicodeDecodeError,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
    ) as exc:
        raise DlgrError(f"{archive} is not a readable zip file ({exc}). {_HOW}") from exc


def _no_escaping_member(archive: Path, names: list[str]) -> None:
    for name in names:
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
            raise DlgrError(
                f"{archive} holds {name!r}, a path outside the folder it would be unpacked "
                f"into; it was not made by an export. {_HOW}"
            )


def _has_header(archive: Path, handle: zipfile.ZipFile, name: str) -> None:
    with handle.open(name) as member:
        first = member.readline(_HEADER_BYTES).decode("utf-8-sig")
    columns = next(csv.reader(io.StringIO(first)), [])
    if (
        "id" not in columns
        or len(set(columns)) != len(columns)
        or not all(column and not _CONTROL.search(column) for column in columns)
    ):
        raise DlgrError(
            f"{name} in {archive} does not start with a header row of column names "
            f"(found {first.strip()[:60]!r}). {_HOW}"
        )
