"""Room for experiments on a server: what playbooks/capacity.yml reads there, and the
rule a new app is placed by.

PsyNet's documentation budgets about 5 GB of memory per experiment that runs at the
same time; the rule counts every app that runs with `memory_per_app_gb` (a server
setting, 5 by default) against the server's memory, and a new app needs one more share.
A server where no app runs always takes one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlgr_ansible import validate

CAPACITY_KEY = "dlgr_capacity"
# The server setting, and its default (PsyNet's figure).
MEMORY_PER_APP_KEY = "memory_per_app_gb"
DEFAULT_MEMORY_PER_APP_GB = 5.0
GB = 10**9


def memory_per_app(value: str | float | None) -> float:
    """The setting's value in GB, checked: a positive number."""
    if value is None or value == "":
        return DEFAULT_MEMORY_PER_APP_GB
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise validate.ValidationError(
            f"{MEMORY_PER_APP_KEY} is {value!r}; give the memory in GB each running app is "
            "counted with, a number above 0 (PsyNet's documentation says 5)."
        )
    return number


def apps_that_fit(memory_total: int, running: int, per_app_gb: float) -> int:
    """The rule (deploy.yml's placement check says the same in Jinja)."""
    shares = max(1, math.floor(memory_total / (per_app_gb * GB)))
    return max(0, shares - running)


@dataclass(frozen=True)
class Room:
    """One server's room, as capacity.yml read it; `per_app_gb`: its placement rule."""

    server: str
    memory_total: int
    memory_available: int
    cpus: int
    disk_free: int
    disk_total: int
    docker_root: str | None
    docker: bool
    apps_running: tuple[str, ...]
    per_app_gb: float = DEFAULT_MEMORY_PER_APP_GB
    app_exists: bool = False  # the app asked about has a compose file there

    @classmethod
    def from_report(cls, server: str, data: dict, per_app_gb: float) -> Room:
        return cls(
            server=server,
            memory_total=int(data.get("memory_total") or 0),
            memory_available=int(data.get("memory_available") or 0),
            cpus=int(data.get("cpus") or 0),
            disk_free=int(data.get("disk_free") or 0),
            disk_total=int(data.get("disk_total") or 0),
            docker_root=data.get("docker_root") or None,
            docker=bool(data.get("docker")),
            apps_running=tuple(data.get("apps_running") or ()),
            per_app_gb=per_app_gb,
            app_exists=bool(data.get("app_exists")),
        )

    @property
    def apps_that_fit(self) -> int:
        """How many more apps the rule lets this server run; one at least while none runs
        (a small server is still a server)."""
        return apps_that_fit(self.memory_total, len(self.apps_running), self.per_app_gb)

    def to_json(self) -> dict:
        return {
            "memory_total": self.memory_total,
            "memory_available": self.memory_available,
            "cpus": self.cpus,
            "disk_free": self.disk_free,
            "disk_total": self.disk_total,
            "docker_root": self.docker_root,
            "docker": self.docker,
            "apps_running": list(self.apps_running),
            "memory_per_app_gb": self.per_app_gb,
            "apps_that_fit": self.apps_that_fit,
        }


def roomiest(rooms: list[Room]) -> Room | None:
    """The server with the most apps left to fit, then the most memory available; None
    when there are no rooms."""
    if not rooms:
        return None
    return max(rooms, key=lambda room: (room.apps_that_fit, room.memory_available))


def gigabytes(size: int) -> str:
    return f"{size / GB:.1f} GB"


def reason(room: Room) -> str:
    """Why `room` takes no new app (deploy.yml's check says the same)."""
    running = ", ".join(room.apps_running) or "none"
    return (
        f"{room.server} has no room for another app: {len(room.apps_running)} run ({running}), "
        f"each counted with {room.per_app_gb:g} GB, of {gigabytes(room.memory_total)} of memory."
    )


def elsewhere(others: list[Room]) -> str:
    """Where a refused new app could go instead, and the other ways out."""
    with_room = [other for other in others if other.apps_that_fit > 0]
    where = (
        "Servers with room: "
        + ", ".join(f"{other.server} ({other.apps_that_fit} more)" for other in with_room)
        + " (deploy there with --server NAME, or --server auto)."
        if with_room
        else "No other saved server has room."
    )
    return (
        f"{where} Or stop or destroy an app there, change the rule "
        f"({MEMORY_PER_APP_KEY}: `dlgr-ansible servers set --memory-per-app GB`), or give "
        "--force to deploy anyway."
    )
