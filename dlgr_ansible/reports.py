"""What every command hands back: the --json document of each, defined here only.

A command that runs a playbook returns one of these reports. Its document (docs/json.md)
is: what every run reports (RUN_KEYS); what the playbook hands back (set_stats) that
is passed on as it is, named in the report's STATS; and the command's own keys, named
in its KEYS (some present only on success, see docs/json.md). Keys a command reads
itself (the apps playbook's raw listing, say) are not passed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from dlgr_ansible.capacity import Room
from dlgr_ansible.db_connections import db_connections_from_server
from dlgr_ansible.fleet import ServerOutcome
from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import inventory_name
from dlgr_ansible.phases import Phase
from dlgr_ansible.server_apps import AppInfo
from dlgr_ansible.session import Ran

# Every playbook command's document has these ("artifacts" only with --keep-artifacts).
RUN_KEYS = ("hosts", "ok", "status", "elapsed", "errors", "artifacts")
# What prepare.yml, provision.yml and deploy.yml hand back, each one more than the last.
PREPARE_STATS = ("dlgr_servers",)
PROVISION_STATS = (*PREPARE_STATS, "dlgr_images", "dlgr_dozzle_password_set")
DEPLOY_STATS = (*PROVISION_STATS, "dlgr_app")


@dataclass
class Report:
    """A playbook command's result."""

    ran: Ran
    COMMANDS: ClassVar[tuple[str, ...]] = ()
    STATS: ClassVar[tuple[str, ...]] = ()
    KEYS: ClassVar[tuple[str, ...]] = ()

    @property
    def ok(self) -> bool:
        return self.ran.ok

    def results(self) -> dict:
        """The command's own keys."""
        return {}

    def to_json(self) -> dict:
        outcome, run = self.ran.outcome, self.ran.run
        # Keyed by the servers' saved names, also where the inventory lists one otherwise.
        saved = {inventory_name(name): name for name in run.servers}

        def by_saved_name(per_host):
            if not isinstance(per_host, dict):
                return per_host
            return {saved.get(host, host): value for host, value in per_host.items()}

        document = {
            "hosts": by_saved_name(outcome.state.stats()),
            "ok": outcome.ok,
            "status": outcome.status,
            "elapsed": round(outcome.state.elapsed(), 3),
            "errors": [] if outcome.ok else outcome.explanations(run),
        }
        if outcome.artifacts_dir:
            document["artifacts"] = str(outcome.artifacts_dir)
        for key in self.STATS:
            if key in outcome.state.results:
                document[key] = by_saved_name(outcome.state.results[key])
        document.update(self.results())
        return document


@dataclass
class FleetReport(Report):
    """A command that may run on several servers at once: how each one fared."""

    servers: list[ServerOutcome] = field(default_factory=list)
    KEYS = ("servers",)

    def results(self) -> dict:
        return {"servers": {each.server: each.to_json() for each in self.servers}}


@dataclass
class ServerAdded(Report):
    server: Server | None = None
    COMMANDS = ("servers add",)
    STATS = PREPARE_STATS
    KEYS = ("saved",)

    def results(self) -> dict:
        return {"saved": self.ok}


@dataclass
class ServerChecked(FleetReport):
    COMMANDS = ("servers check",)
    STATS = PREPARE_STATS


@dataclass
class Provisioned(FleetReport):
    # The Dozzle login of each server (saved name) that took the one offered.
    dozzle_by_server: dict[str, dict] = field(default_factory=dict)
    COMMANDS = ("provision",)
    STATS = PROVISION_STATS
    KEYS = ("dozzle", "dozzle_by_server", *FleetReport.KEYS)

    @property
    def dozzle(self) -> dict | None:
        """The login a one-server run's server took."""
        return next(iter(self.dozzle_by_server.values()), None)

    def results(self) -> dict:
        if len(self.servers) > 1:
            return {"dozzle_by_server": self.dozzle_by_server} | super().results()
        return ({"dozzle": self.dozzle} if self.dozzle else {}) | super().results()


@dataclass
class Deployed(Report):
    dozzle: dict | None = None
    app: dict | None = None  # deploy.app_report, when the deploy succeeded
    # Where the time went (the build here, then the run's), failed runs included.
    phases: list[Phase] = field(default_factory=list)
    # What to do after the run failed as it did (a full server: where else), after errors.
    advice: list[str] = field(default_factory=list)
    COMMANDS = ("deploy", "sandbox")
    STATS = DEPLOY_STATS
    KEYS = ("dozzle", "app", "phases")

    def results(self) -> dict:
        results = {"dozzle": self.dozzle} if self.dozzle else {}
        if self.advice and not self.ok:
            results["errors"] = self.ran.outcome.explanations(self.ran.run) + self.advice
        if self.app:
            results["app"] = self.app
        results["phases"] = [phase.to_json() for phase in self.phases]
        return results


@dataclass
class Exported(Report):
    name: str = ""
    path: Path | None = None
    scrubbed: bool = True
    format: str = "dallinger"  # or psynet: PsyNet's export, a folder at path
    COMMANDS = ("export",)
    STATS = ("dlgr_export",)
    KEYS = ("export",)

    def results(self) -> dict:
        if not self.ok:
            return {}
        if self.format == "psynet":
            return {"export": {"path": str(self.path), "format": "psynet"}}
        return {
            "export": {"path": str(self.path), "scrubbed": self.scrubbed, "format": "dallinger"}
        }


@dataclass
class Destroyed(Report):
    name: str = ""
    backup: Path | None = None  # the checked backup, when one was taken
    COMMANDS = ("destroy",)
    STATS = ("dlgr_export", "dlgr_app")
    KEYS = ("destroyed", "backup")

    def results(self) -> dict:
        if not self.ok:
            return {}
        results = {"destroyed": self.name}
        if self.backup:
            results["backup"] = str(self.backup)
        return results


@dataclass
class Moved(Report):
    """A move: `ran` is its last run (the one that failed, else the new server's deploy,
    or the removal from the old one)."""

    name: str = ""
    source: str = ""
    target: str = ""
    backup: Path | None = None  # the move's backup on this machine, once taken
    rows: int | None = None  # the rows of every table, once both servers' counts match
    app: dict | None = None  # deploy.app_report of the copy, once it serves
    removed: bool = False  # from the old server, after the second confirmation
    started_again: bool = False  # on the old server, after a move that did not finish
    dozzle: dict | None = None  # the Dozzle login the new server took, shown once
    COMMANDS = ("move",)
    STATS = ("dlgr_app", "dlgr_rows")
    KEYS = ("moved", "from", "to", "backup", "rows", "app", "dozzle", "removed", "started_again")

    def results(self) -> dict:
        results = {"moved": self.name, "from": self.source, "to": self.target}
        results |= {"backup": str(self.backup)} if self.backup else {}
        results |= {"rows": self.rows} if self.rows is not None else {}
        results |= {"app": self.app} if self.app else {}
        results |= {"dozzle": self.dozzle} if self.dozzle else {}
        return results | {"removed": self.removed, "started_again": self.started_again}


@dataclass
class RolledBack(Report):
    name: str = ""
    COMMANDS = ("rollback",)
    STATS = ("dlgr_rollback",)


@dataclass
class Restarted(Report):
    name: str = ""
    COMMANDS = ("restart",)
    STATS = ("dlgr_restart",)


@dataclass
class ReleasesListed(Report):
    releases: list[dict] = field(default_factory=list)
    COMMANDS = ("releases",)
    KEYS = ("releases",)

    def results(self) -> dict:
        return {"releases": self.releases}


@dataclass
class ImagesDelivered(Report):
    COMMANDS = ("images push", "images pull")
    STATS = ("dlgr_images",)


@dataclass
class AppsListed(FleetReport):
    apps: list[AppInfo] = field(default_factory=list)
    COMMANDS = ("apps",)
    KEYS = ("apps", *FleetReport.KEYS)

    def results(self) -> dict:
        return {"apps": [app.to_json() for app in self.apps]} | super().results()


@dataclass
class ContainersMeasured(FleetReport):
    containers: list[dict] = field(default_factory=list)
    COMMANDS = ("stats",)
    KEYS = ("containers", *FleetReport.KEYS)

    def results(self) -> dict:
        return {"containers": self.containers} | super().results()


@dataclass
class CapacityMeasured(FleetReport):
    rooms: list[Room] = field(default_factory=list)
    COMMANDS = ("capacity",)
    KEYS = ("capacity", *FleetReport.KEYS)

    def results(self) -> dict:
        return {
            "capacity": {room.server: room.to_json() for room in self.rooms}
        } | super().results()


@dataclass
class HistoryShown(Report):
    entries: list[dict] = field(default_factory=list)
    COMMANDS = ("history",)
    KEYS = ("history",)

    def results(self) -> dict:
        return {"history": self.entries}


@dataclass
class ConnectionsCounted(FleetReport):
    # Per server (saved name); a server whose run failed has none.
    connections: dict[str, dict] = field(default_factory=dict)
    COMMANDS = ("db-connections",)
    KEYS = ("connections", "connections_by_server", *FleetReport.KEYS)

    def results(self) -> dict:
        if len(self.servers) == 1:
            counted = next(iter(self.connections.values()), db_connections_from_server({}))
            return {"connections": counted} | super().results()
        return {"connections_by_server": self.connections} | super().results()


@dataclass
class DozzlePasswordSet(Report):
    user: str = ""
    changed: bool = False
    saved_in: Path | None = None
    COMMANDS = ("set-dozzle-password",)
    KEYS = ("dozzle",)

    def results(self) -> dict:
        return {
            "dozzle": {"user": self.user, "changed": self.changed, "saved_in": str(self.saved_in)}
        }


@dataclass
class LogsRead:
    """`logs` has no --json: the text, or the failed run."""

    ran: Ran
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.ran.ok


@dataclass(frozen=True)
class Streamed:
    """A `--follow` view ended (or was interrupted) with this exit code."""

    exit_code: int


PLAYBOOK_REPORTS = (
    ServerAdded,
    ServerChecked,
    Provisioned,
    Deployed,
    Exported,
    Destroyed,
    Moved,
    RolledBack,
    Restarted,
    ReleasesListed,
    ImagesDelivered,
    AppsListed,
    ContainersMeasured,
    CapacityMeasured,
    ConnectionsCounted,
    HistoryShown,
    DozzlePasswordSet,
)


def server_list(saved: dict[str, Server]) -> dict:
    """`servers list --json`: each saved server as Dallinger stores it, with its port."""
    return {name: server.to_json() | {"port": server.port} for name, server in saved.items()}
