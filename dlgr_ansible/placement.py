"""Where a new app may go: each saved server's room (playbooks/capacity.yml), the server
`--server auto` picks, and the refusal of a full one (dlgr_ansible.capacity's rule).

A deploy of a new app to a named server has deploy.yml check the rule in the same run,
before the lock (one raw task, no extra run); only when that refuses does this look at
the other saved servers, to name those with room.
"""

from __future__ import annotations

from dlgr_ansible import capacity
from dlgr_ansible.config import Config
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import Server
from dlgr_ansible.reports import CapacityMeasured
from dlgr_ansible.session import Ran, Session

AUTO = "auto"
# What deploy.yml's placement check hands back (set_stats), keyed by host.
PLACEMENT_KEY = "dlgr_placement"
RULE_VARIABLE = "dlgr_placement_memory_per_app_gb"
APP_VARIABLE = "dlgr_capacity_app"


class PlacementProblem(DlgrError):
    """A new app has no server with room (or none answered)."""


def rule(config: Config) -> float:
    """The server's memory_per_app_gb (its saved setting, the config's, or 5)."""
    return capacity.memory_per_app(config.get(capacity.MEMORY_PER_APP_KEY))


def measure_room(
    session: Session, targets: list[Server], title: str, overrides=(), app: str | None = None
) -> CapacityMeasured:
    """One run of capacity.yml over `targets`, each measured against its own rule (or the
    one `overrides`, -c KEY VALUE, set); with `app`, whether each server has it."""
    rules = {target.host: rule(session.config(overrides, target)) for target in targets}
    variables = {APP_VARIABLE: app} if app else None
    ran = session.run("capacity.yml", targets, session.config(), variables, title)
    rooms = [
        capacity.Room.from_report(name, data, rules[name])
        for name, data in ran.data_by_server(capacity.CAPACITY_KEY).items()
        if data is not None
    ]
    return CapacityMeasured(ran, rooms=rooms, servers=ran.outcomes())


def auto_server(session: Session, force: bool, app: str | None, overrides=()) -> Server:
    """The saved server that has `app` already (a first deploy resumed), else the one with
    the most room (`force`: even when none has room by the rule); says which on the
    session's log."""
    saved = list(session.store().servers().values())
    if not saved:
        session.server(None)  # raises the "add a server first" message
    measured = measure_room(
        session, saved, "Looking for the saved server with the most room", overrides, app
    )
    there = [room for room in measured.rooms if room.app_exists]
    if there:
        session.log(f"--server auto: {there[0].server}, which has {app} already")
        return session.store().resolve(there[0].server)
    choice = capacity.roomiest(measured.rooms)
    if choice is None:
        reasons = " ".join(each.error for each in measured.servers if not each.ok)
        raise PlacementProblem(f"--server auto: no saved server answered. {reasons}".strip())
    if choice.apps_that_fit < 1 and not force:
        raise PlacementProblem(
            "--server auto: no saved server has room for another app; the roomiest: "
            f"{capacity.reason(choice)} {capacity.elsewhere([])}"
        )
    session.log(
        f"--server auto: {choice.server}, room for {choice.apps_that_fit} more app(s) "
        f"({capacity.gigabytes(choice.memory_available)} of memory available)"
    )
    return session.store().resolve(choice.server)


def advice_after(session: Session, ran: Ran, target: Server, overrides=()) -> str | None:
    """When deploy.yml's check refused `target`: the other saved servers with room (by the
    same rule) and the other ways out; None when it did not refuse."""
    found = ran.host_data(PLACEMENT_KEY)
    if ran.ok or not found or not found.get("refused"):
        return None
    others = [server for name, server in session.store().servers().items() if name != target.host]
    rooms = (
        measure_room(session, others, "Looking for saved servers with room", overrides).rooms
        if others
        else []
    )
    return capacity.elsewhere(rooms)
