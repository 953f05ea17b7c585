"""Several saved servers in one command: which ones it is about, and how each one fared.

A read-only command given `--server` more than once, or `--all`, runs its playbook once
over all of them; Ansible works on them in parallel (its forks) and goes on with the
others when one fails or cannot be reached. Each server then has its own outcome here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dlgr_ansible import diagnose
from dlgr_ansible.hosts import HostsProblem, HostsStore, Server
from dlgr_ansible.inventory import inventory_name
from dlgr_ansible.runner import PlaybookRun, RunOutcome
from dlgr_ansible.validate import ValidationError


@dataclass(frozen=True)
class ServerOutcome:
    """How the run went on one server: `error` says what to do when it did not."""

    server: str
    ok: bool
    error: str = ""
    unreachable: bool = False

    @property
    def state(self) -> str:
        if self.ok:
            return "ok"
        return "unreachable" if self.unreachable else "failed"

    def to_json(self) -> dict:
        return {"ok": self.ok, "state": self.state, "error": self.error}


def chosen(
    store: HostsStore,
    names: Sequence[str] | str | None,
    every: bool,
    choose_one: Callable[[HostsStore, str | None], Server],
) -> list[Server]:
    """The servers a command is about: each `--server` given (one name will do), every
    saved one with `--all`, or else the one `choose_one` picks (the only one, or a
    choice)."""
    names = as_names(names)
    if every and names:
        raise ValidationError("Give --all or --server, not both.")
    if every:
        saved = list(store.servers().values())
        if not saved:
            raise HostsProblem(
                "No server saved yet. Add one with `dlgr-ansible servers add --host HOST --user USER`."
            )
        return saved
    if len(names) > 1:
        unique = list(dict.fromkeys(names))
        return [store.resolve(name) for name in unique]
    return [choose_one(store, names[0] if names else None)]


def as_names(given: Sequence[str] | str | None) -> tuple[str, ...]:
    """--server's values; a library caller may pass one name, or None."""
    return (given,) if isinstance(given, str) else tuple(given or ())


def outcomes(run: PlaybookRun, outcome: RunOutcome) -> list[ServerOutcome]:
    """One outcome per server of the run, in the order they were given."""
    failures = {failure.host: failure for failure in outcome.state.final_failures()}
    stats = outcome.state.stats()
    finished = outcome.status in ("successful", "failed")
    results = []
    for name, server in run.servers.items():
        host = inventory_name(name)
        failure = failures.get(host)
        if failure is not None:
            explained = diagnose.explain(failure, server, str(run.key_file))
            results.append(ServerOutcome(name, False, explained, failure.unreachable))
        elif host in stats and finished and not stats[host].get("failed"):
            results.append(ServerOutcome(name, True))
        else:
            results.append(
                ServerOutcome(
                    name, False, f"{name}: not checked (Ansible stopped: {outcome.status})."
                )
            )
    return results
