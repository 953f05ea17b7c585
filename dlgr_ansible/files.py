"""Writing a file so that a crash leaves the old content or the new, never half of either."""

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str, mode: int, scratch_dir: Path | None = None) -> Path:
    """Replace `path` with `text`, readable as `mode` from the moment it appears.

    The temporary file is made in `scratch_dir` (default: beside `path`), which must be
    on the same file system; a directory whose every file is read by someone else
    (Dallinger's hosts directory) needs it elsewhere.
    """
    scratch_dir = scratch_dir or path.parent
    fd, tmp = tempfile.mkstemp(dir=scratch_dir, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
