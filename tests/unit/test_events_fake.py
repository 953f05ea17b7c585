"""RunState fed with hand-written (fake) ansible-runner events shaped like real ones."""

from dlgr_ansible.events import RunState


def ev(kind, **data):
    return {"event": kind, "event_data": data}


def test_counts_play_task_and_final_stats():
    state = RunState()
    state.handle(ev("playbook_on_play_start", play="Check"))
    state.handle(ev("playbook_on_task_start", task="ping"))
    state.handle(ev("runner_on_ok", host="h1", task="ping", res={"changed": False}))
    state.handle(ev("runner_on_ok", host="h1", task="write", res={"changed": True}))
    state.handle(ev("runner_on_skipped", host="h1", task="skip"))
    assert (state.play, state.task) == ("Check", "ping")
    assert state.hosts["h1"]["ok"] == 2
    assert state.hosts["h1"]["changed"] == 1
    assert state.hosts["h1"]["skipped"] == 1
    assert not state.succeeded()  # not finished yet
    state.handle(
        ev(
            "playbook_on_stats",
            ok={"h1": 3},
            changed={"h1": 1},
            skipped={"h1": 1},
            failures={},
            dark={},
            processed={"h1": 1},
            artifact_data={"dlgr_servers": {"h1": {"os": "Debian 13"}}},
        )
    )
    assert state.succeeded()
    assert state.stats() == {
        "h1": {
            "ok": 3,
            "changed": 1,
            "failed": 0,
            "unreachable": 0,
            "skipped": 1,
            "rescued": 0,
            "ignored": 0,
        }
    }
    assert state.results == {"dlgr_servers": {"h1": {"os": "Debian 13"}}}


def test_rescued_failure_is_not_reported_but_final_one_is():
    state = RunState()
    state.handle(
        ev("runner_on_failed", host="h1", task="sudo", res={"msg": "Missing sudo password"})
    )
    state.handle(
        ev("runner_on_failed", host="h1", task="explain", res={"msg": "No passwordless sudo"})
    )
    state.handle(ev("runner_on_failed", host="h2", task="sudo", res={"msg": "rescued"}))
    state.handle(ev("playbook_on_stats", failures={"h1": 1}, rescued={"h2": 1}, ok={"h2": 2}))
    assert not state.succeeded()
    failures = state.final_failures()
    assert [(f.host, f.task, f.message) for f in failures] == [
        ("h1", "explain", "No passwordless sudo")
    ]


def test_ignored_errors_do_not_fail():
    state = RunState()
    state.handle(ev("runner_on_failed", host="h", task="t", ignore_errors=True, res={"msg": "x"}))
    assert state.hosts["h"]["ignored"] == 1
    assert state.failures == []


def test_unreachable_and_message_parts():
    state = RunState()
    state.handle(
        ev(
            "runner_on_unreachable",
            host="h",
            task="ping",
            res={"msg": "Failed to connect: Connection refused"},
        )
    )
    state.handle(ev("playbook_on_stats", dark={"h": 1}))
    (failure,) = state.final_failures()
    assert failure.unreachable
    assert "Connection refused" in failure.message


def test_no_log_results_stay_hidden():
    state = RunState()
    state.handle(
        ev("runner_on_failed", host="h", task="secret", res={"censored": "hidden", "msg": "pw"})
    )
    assert "no_log" in state.failures[0].message
    assert "pw" not in state.failures[0].message


def test_loop_failures_are_collected():
    state = RunState()
    res = {"results": [{"failed": True, "msg": "item one broke"}, {"failed": False, "msg": "fine"}]}
    state.handle(ev("runner_on_failed", host="h", task="loop", res=res))
    assert state.failures[0].message == "item one broke"


def test_a_retrying_task_says_what_it_waits_for_until_the_next_task():
    state = RunState()
    state.handle(ev("playbook_on_task_start", task="Take the server's deploy lock"))
    held = "The server's deploy lock is held by alice on laptop (deploy), since t (1 min ago)."
    state.handle(ev("runner_retry", host="h1", res={"acquired": False, "msg": held}))
    assert state.waiting == held
    assert state.hosts == {}  # a retry is no result: nothing counted yet
    state.handle(ev("runner_on_ok", host="h1", res={"acquired": True}))
    state.handle(ev("playbook_on_task_start", task="Install Docker"))
    assert state.waiting == ""


def test_warnings_of_results_are_kept_in_order():
    state = RunState()
    state.handle(ev("runner_on_ok", host="h1", res={"warnings": ["Took over the lock"]}))
    state.handle(ev("runner_on_ok", host="h1", res={}))
    state.handle(ev("runner_on_ok", host="h1", res={"warnings": ["second"]}))
    assert state.warnings == ["Took over the lock", "second"]
