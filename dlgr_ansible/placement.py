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


class PlacementProblem(DlgrError):
    """A new app has no server with room (or none answered)."""


def rule(config: Config) -> float:
    """The server's memory_per_app_gb (its saved setting, the config's, or 5)."""
    return capacity.memory_per_app(config.get(capacity.MEMORY_PER_APP_KEY))


def measure_room(
    session: Session, targets: list[Server], title: str, overrides=()
) -> CapacityMeasured:
    """One run of capacity.yml over `targets`, each measured against its own rule (or the
    one `overrides`, -c KEY VALUE, set)."""
    rules = {target.host: rule(session.config(overrides, target)) for target in targets}
    ran = session.run("capacity.yml", targets, session.config(), None, title)
    rooms = [
        capacity.Room.from_report(name, data, rules[name])
        for name, data in ran.data_by_server(capacity.CAPACITY_KEY).items()
        if data is not None
    ]
    return CapacityMeasured(ran, rooms=rooms, servers=ran.outcomes())


def auto_server(session: Session, force: bool, overrides=()) -> Server:
    """The saved server with the most room (`force`: even when none has room by the rule);
    says which on the session's log."""
    saved = list(session.store().servers().values())
    if not saved:
        session.server(None)  # raises the "add a server first" message
    measured = measure_room(
        session, saved, "Looking for the saved server with the most room", overrides
    )
    choice = capacity.roomiest(measured.rooms)
    if choice is None:
        reasons = " ".join(each.error for each in measured.servers if not each.ok)
        raise PlacementProblem(f"--server auto: no saved server answered. {reasons}".strip())
    if choice.apps_that_fit < 1 and not force:
        raise PlacementProblem(
            "--server auto: no saved server has room for another app by the placement rule "
            f"({capacity.MEMORY_PER_APP_KEY}); the roomiest is "
            f"{capacity.refusal(choice, [])}"
        )
    session.log(
        f"--server auto: {choice.server}, room for {choice.apps_that_fit} more app(s) "
        f"({capacity.gigabytes(choice.memory_available)} of memory available)"
    )
    return session.store().resolve(choice.server)


def refused(session: Session, ran: Ran, target: Server, overrides=()) -> PlacementProblem | None:
    """When deploy.yml's check refused `target`, why, with the other saved servers that
    have room (by the same rule); None when it did not."""
    found = ran.host_data(PLACEMENT_KEY)
    if ran.ok or not found or not found.get("refused"):
        return None
    room = capacity.Room.from_report(target.host, found, rule(session.config(overrides, target)))
    others = [server for name, server in session.store().servers().items() if name != target.host]
    rooms = (
        measure_room(session, others, "Looking for saved servers with room", overrides).rooms
        if others
        else []
    )
    return PlacementProblem(capacity.refusal(room, rooms))
