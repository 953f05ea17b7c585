"""Where a run's time went, task by task: Ansible's own timings, read from the job events
that `--keep-artifacts` keeps (ansible-runner records each task result's start, end and
duration).

    .venv/bin/python -m benchmarks.task_profile ARTIFACTS_DIR [--most N]

prints the slowest tasks of a kept run; benchmarks.side_by_side --profile prints them per
step. A task run in a loop counts once, with the time of all its items.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# A task's result per host, with its timing. A loop's items (runner_item_on_*) are left
# out: the loop's own result spans them all.
_RESULTS = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}


@dataclass(frozen=True)
class TaskTime:
    role: str
    task: str
    seconds: float
    results: int  # results counted (hosts), for a hint at loops and skips
    skipped: bool  # every result was a skip

    def label(self) -> str:
        return f"{self.role}: {self.task}" if self.role else self.task


def read_events(artifacts_dir: Path) -> list[dict]:
    """Every job event of the run(s) kept under a private data dir, in order."""
    files = sorted(
        Path(artifacts_dir).glob("artifacts/*/job_events/*.json"),
        key=lambda path: int(path.name.split("-", 1)[0]),
    )
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def task_times(events: Iterable[dict]) -> list[TaskTime]:
    """Seconds per task (by its uuid), slowest first."""
    spans: dict[str, dict] = {}
    for event in events:
        kind = event.get("event")
        if kind not in _RESULTS:
            continue
        data = event.get("event_data") or {}
        uuid = data.get("task_uuid") or data.get("task") or ""
        span = spans.setdefault(
            uuid,
            {
                "role": data.get("role") or "",
                "task": data.get("task") or "",
                "seconds": 0.0,
                "results": 0,
                "skipped": True,
            },
        )
        span["seconds"] += float(data.get("duration") or 0.0)
        span["results"] += 1
        span["skipped"] = span["skipped"] and kind == "runner_on_skipped"
    times = [TaskTime(**span) for span in spans.values()]
    return sorted(times, key=lambda item: item.seconds, reverse=True)


def format_profile(times: list[TaskTime], most: int = 12) -> str:
    ran = [item for item in times if not item.skipped]
    total = sum(item.seconds for item in times)
    lines = [
        f"{len(ran)} tasks ran, {len(times) - len(ran)} skipped; their results took "
        f"{total:.1f} s in all; the slowest:"
    ]
    for item in times[:most]:
        lines.append(f"  {item.seconds:6.2f} s  {item.label()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.task_profile")
    parser.add_argument("artifacts_dir", type=Path, help="a run's kept private data dir")
    parser.add_argument("--most", type=int, default=20, metavar="N", help="tasks to list")
    args = parser.parse_args(argv)
    print(format_profile(task_times(read_events(args.artifacts_dir)), args.most))


if __name__ == "__main__":
    main()
