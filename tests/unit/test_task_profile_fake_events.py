"""benchmarks.task_profile on hand-made job events (fakes of ansible-runner's files)."""

import json

from benchmarks.task_profile import format_profile, read_events, task_times


def result(kind, uuid, task, duration, role=""):
    return {
        "event": kind,
        "event_data": {"task_uuid": uuid, "task": task, "role": role, "duration": duration},
    }


def test_tasks_slowest_first_with_loop_items_counted_once():
    events = [
        {"event": "playbook_on_task_start", "event_data": {"task_uuid": "a", "task": "Look"}},
        result("runner_on_ok", "a", "Look", 0.4, role="dallinger_app"),
        result("runner_item_on_ok", "b", "Folders", 0.5),
        result("runner_item_on_ok", "b", "Folders", 0.6),
        result("runner_on_ok", "b", "Folders", 1.1),
        result("runner_on_skipped", "c", "Launch", 0.0),
    ]
    times = task_times(events)
    assert [(t.label(), t.seconds, t.skipped) for t in times] == [
        ("Folders", 1.1, False),
        ("dallinger_app: Look", 0.4, False),
        ("Launch", 0.0, True),
    ]
    text = format_profile(times, most=2)
    assert text.splitlines()[0].startswith("2 tasks ran, 1 skipped; their results took 1.5 s")
    assert len(text.splitlines()) == 3


def test_events_read_in_their_counter_order(tmp_path):
    events = tmp_path / "artifacts" / "ident" / "job_events"
    events.mkdir(parents=True)
    for counter in (10, 2):
        body = result("runner_on_ok", str(counter), f"task {counter}", 1.0)
        (events / f"{counter}-uuid.json").write_text(json.dumps(body))
    assert [e["event_data"]["task"] for e in read_events(tmp_path)] == ["task 2", "task 10"]
