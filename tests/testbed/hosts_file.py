"""Names for the test bed's servers in /etc/hosts, for as long as a run needs them.

A tool that resolves names itself (Dallinger's docker-ssh POSTs /launch with `requests`)
reaches a target at a loopback address of its own only through a name that resolves
there. Needs root, as `make test` runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

HOSTS_FILE = Path("/etc/hosts")


@contextlib.contextmanager
def entries(lines: list[str], mark: str) -> Iterator[None]:
    """`lines` ("address name...") added, then removed again by `mark`. Written in place:
    in a container /etc/hosts is a bind mount that cannot be replaced."""
    mark = f"# {mark} pid {os.getpid()}"
    original = HOSTS_FILE.read_text()
    added = "".join(f"{line} {mark}\n" for line in lines)
    HOSTS_FILE.write_text(original + ("" if original.endswith("\n") else "\n") + added)
    try:
        yield
    finally:
        kept = [line for line in HOSTS_FILE.read_text().splitlines() if mark not in line]
        HOSTS_FILE.write_text("\n".join(kept) + "\n")
