"""Turn ansible-runner events into the state of a run: play, task, counts, failures, results.

Pure bookkeeping, no output: progress.py draws it, runner.py returns it. The time per
phase is phases.py's job; every run's state carries one.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from dlgr_ansible.phases import PhaseTimer

STAT_KEYS = ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
# Ansible's names in the playbook_on_stats event, mapped to ours.
_STATS_EVENT_KEYS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}


@dataclass
class Failure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class RunState:
    playbook: str = ""
    play: str = ""
    task: str = ""
    started: float = field(default_factory=time.monotonic)
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    # What a task that retries says while it waits (the deploy lock's holder), until the
    # next task starts.
    waiting: str = ""
    # Warnings of the tasks' results (a dead run's deploy lock taken over), in order.
    warnings: list[str] = field(default_factory=list)
    finished: bool = False
    phase_timer: PhaseTimer = field(default_factory=PhaseTimer)
    # Where the docker_images role says how far an image send has got (dlgr_ansible.transfer).
    progress_file: Path | None = None

    def handle(self, event: dict) -> None:
        self.phase_timer.handle(event)
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.play = data.get("play") or data.get("name") or ""
        elif kind == "playbook_on_task_start":
            self.task = data.get("task") or ""
            self.waiting = ""
        elif kind == "runner_retry":
            message = (data.get("res") or {}).get("msg")
            self.waiting = message.strip() if isinstance(message, str) else ""
        elif kind == "runner_on_ok":
            # Ansible counts a changed result as ok too.
            self._count(data, "ok")
            warnings = (data.get("res") or {}).get("warnings") or []
            self.warnings += [text for text in warnings if isinstance(text, str)]
            if _changed(data):
                self._count(data, "changed")
        elif kind == "runner_on_skipped":
            self._count(data, "skipped")
        elif kind == "runner_on_failed":
            if data.get("ignore_errors"):
                self._count(data, "ignored")
            else:
                self._count(data, "failed")
                self.failures.append(_failure(data, unreachable=False))
        elif kind == "runner_on_unreachable":
            self._count(data, "unreachable")
            self.failures.append(_failure(data, unreachable=True))
        elif kind == "playbook_on_stats":
            self._final_stats(data)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stats(self) -> dict[str, dict[str, int]]:
        return {host: dict(counts) for host, counts in sorted(self.hosts.items())}

    def succeeded(self) -> bool:
        return self.finished and not any(
            counts["failed"] or counts["unreachable"] for counts in self.hosts.values()
        )

    def final_failures(self) -> list[Failure]:
        """The failure that stopped each host; ones a rescue block handled are left out."""
        last: dict[str, Failure] = {}
        for failure in self.failures:
            last[failure.host] = failure
        return [
            failure
            for host, failure in last.items()
            if self.hosts.get(host, {}).get("failed") or self.hosts.get(host, {}).get("unreachable")
        ]

    def _host(self, host: str) -> dict[str, int]:
        return self.hosts.setdefault(host, dict.fromkeys(STAT_KEYS, 0))

    def _count(self, data: dict, key: str) -> None:
        host = data.get("host")
        if host:
            self._host(host)[key] += 1

    def _final_stats(self, data: dict) -> None:
        """Ansible's own totals replace the live counts, which cannot see rescues."""
        for counts in self.hosts.values():
            counts.update(dict.fromkeys(STAT_KEYS, 0))
        for source, ours in _STATS_EVENT_KEYS.items():
            for host, number in (data.get(source) or {}).items():
                self._host(host)[ours] = int(number)
        for host in data.get("processed") or {}:
            self._host(host)
        self.results = data.get("artifact_data") or {}
        self.finished = True


def _changed(data: dict) -> bool:
    result = data.get("res") or {}
    return bool(result.get("changed"))


def _failure(data: dict, unreachable: bool) -> Failure:
    return Failure(
        host=data.get("host", "?"),
        task=data.get("task", ""),
        message=_message(data.get("res") or {}),
        unreachable=unreachable,
    )


CENSORED = "details hidden because the task handles secrets (no_log)"


def _message(result: dict) -> str:
    if result.get("censored"):
        return CENSORED
    parts = []
    for key in ("msg", "stderr", "module_stderr", "stdout", "module_stdout"):
        value = result.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    if not parts and result.get("results"):  # a loop: report the failed items
        parts = [
            _message(item)
            for item in result["results"]
            if isinstance(item, dict) and item.get("failed")
        ]
    return "\n".join(parts) or "no message"
