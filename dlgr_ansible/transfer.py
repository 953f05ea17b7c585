"""How far an image send has got, read from the progress file the docker_images role writes
(its `docker_images_progress_file`), with the rate and the time left worked out here."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The role's name for each step, as the user reads it.
STEPS = {"preparing": "preparing", "sending": "sending", "loading": "loading on the server"}


@dataclass(frozen=True)
class Transfer:
    image: str
    step: str
    done: int = 0
    total: int = 0


def read_transfer(path: Path | None) -> Transfer | None:
    """The send under way, or None (no file: nothing is being sent)."""
    if path is None:
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return Transfer(
            str(report["image"]), str(report["step"]), int(report["done"]), int(report["total"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Rate:
    """Bytes per second of a send, from the first report of it this run saw."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start: tuple[str, float, int] | None = None

    def describe(self, transfer: Transfer) -> str:
        """`sending lab/exp:2: 45.2 MB of 111.8 MB (40%), 12.3 MB/s, about 6 s left`."""
        step = STEPS.get(transfer.step, transfer.step)
        if transfer.step != "sending" or not transfer.total:
            self._start = None
            return f"{step} {transfer.image}"
        now = self._clock()
        if (
            self._start is None
            or self._start[0] != transfer.image
            or self._start[2] > transfer.done
        ):
            self._start = (transfer.image, now, transfer.done)
        _, since, first = self._start
        share = 100 * transfer.done // transfer.total
        text = (
            f"{step} {transfer.image}: {size(transfer.done)} of {size(transfer.total)} ({share}%)"
        )
        if now - since >= 1 and transfer.done > first:
            rate = (transfer.done - first) / (now - since)
            left = (transfer.total - transfer.done) / rate
            text += f", {size(rate)}/s, about {left:.0f} s left"
        return text


def size(count: float) -> str:
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
