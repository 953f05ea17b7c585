"""Where a playbook run's time went, by phase: fed with ansible-runner's events.

Pure bookkeeping, no output. A task's time runs from its start to the next task's start
(or to the playbook's end), so a task's wait on the network or the server counts where
it happened. The CLI prints the totals after a deploy; the report hands them on as
"phases" (docs/json.md).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

# Every phase a deploy can have, in the order they happen (and are reported).
BUILD, START, LOCK, PROVISION, DELIVERY, APP, LAUNCH = (
    "build",
    "start",
    "lock",
    "provision",
    "delivery",
    "app",
    "launch",
)
ORDER = (BUILD, START, LOCK, PROVISION, DELIVERY, APP, LAUNCH)
# The app role's POST /launch (and its certificate handling) is a phase of its own: on a
# fresh app it waits for the web container to answer.
_LAUNCH_FILE = ("dallinger_app", "tasks", "launch.yml")
# A run that builds while it starts waits for the build here (playbooks/action_plugins):
# that wait is its build phase.
_BUILD_WAIT = "dlgr_deferred_wait"


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float

    def to_json(self) -> dict:
        return {"name": self.name, "seconds": self.seconds}


def phase_of(role: str | None, task_path: str | None, action: str | None = None) -> str:
    """The phase of a task, from its role, its "file:line" and its action (the task start
    event's `role`, `task_path` and `task_action`)."""
    if action == _BUILD_WAIT:  # deploy.yml waits for the image built here meanwhile
        return BUILD
    if role == "docker_images":  # wherever it is included from: images are delivery
        return DELIVERY
    if role == "dallinger_run":  # taking the server's deploy lock (or waiting for it)
        return LOCK
    if role == "dallinger_app":
        file = (task_path or "").rpartition(":")[0]
        return LAUNCH if PurePath(file).parts[-3:] == _LAUNCH_FILE else APP
    return PROVISION


class PhaseTimer:
    """Time per phase of one run; the run starts when this is made."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._phase: str | None = START
        self._since = clock()
        self._last_event = self._since
        self._spent: dict[str, float] = {}
        self._ended = False

    def handle(self, event: dict) -> None:
        if self._ended:
            return
        now = self._clock()
        self._last_event = now
        kind = event.get("event", "")
        if kind == "playbook_on_task_start":
            data = event.get("event_data") or {}
            self._switch(
                phase_of(data.get("role"), data.get("task_path"), data.get("task_action")), now
            )
        elif kind == "playbook_on_stats":
            self._switch(None, now)
            self._ended = True

    def phases(self) -> list[Phase]:
        """Seconds per phase, in ORDER, rounded to 0.1; phases that took no time are left
        out. A run that never reached its end (canceled, timed out) is counted up to the
        last event it sent, so the answer does not change with when it is asked."""
        spent = dict(self._spent)
        if not self._ended:
            spent[self._phase] = spent.get(self._phase, 0.0) + self._last_event - self._since
        rounded = [Phase(name, round(spent.get(name, 0.0), 1)) for name in ORDER]
        return [phase for phase in rounded if phase.seconds > 0]

    def _switch(self, phase: str | None, now: float) -> None:
        self._spent[self._phase] = self._spent.get(self._phase, 0.0) + now - self._since
        self._phase, self._since = phase, now


def with_build(build_seconds: float | None, phases: list[Phase]) -> list[Phase]:
    """The run's phases after a local build that took `build_seconds` (None: no build),
    added to the run's own build phase (its wait for a build, skipped or not)."""
    waited = sum(phase.seconds for phase in phases if phase.name == BUILD)
    build = round((build_seconds or 0.0) + waited, 1)
    others = [phase for phase in phases if phase.name != BUILD]
    return [Phase(BUILD, build), *others] if build > 0 else others
