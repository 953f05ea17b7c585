"""Where a send has got to, for whoever watches the run (the dlgr-ansible CLI draws a
progress bar from it): a small JSON file on the controller, replaced whole at each
report, so that a reader never sees half of one, and removed when the send ends."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

# Reports closer together than this are left out (the last one of a step never is).
INTERVAL = 0.25


class ProgressFile:
    def __init__(self, path: str | None, image: str):
        self.path = Path(path) if path else None
        self.image = image
        self._last = 0.0

    def report(self, step: str, done: int = 0, total: int = 0, final: bool = False) -> None:
        """`step` is "preparing", "sending" (`done` of `total` bytes) or "loading"."""
        if self.path is None:
            return
        now = time.monotonic()
        if not final and now - self._last < INTERVAL:
            return
        self._last = now
        scratch = self.path.with_name(self.path.name + ".new")
        report = {"image": self.image, "step": step, "done": done, "total": total}
        try:
            scratch.write_text(json.dumps(report), encoding="utf-8")
            os.replace(scratch, self.path)
        except OSError:
            pass  # only a view of the run: never a reason to fail it

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
