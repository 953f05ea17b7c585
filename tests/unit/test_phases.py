"""Time per phase (dlgr_ansible/phases.py), fed with fake ansible-runner events shaped like
real ones (role and task_path as the task start event carries them) and a fake clock."""

from dlgr_ansible.cli.tables import phases_line
from dlgr_ansible.events import RunState
from dlgr_ansible.phases import Phase, PhaseTimer, phase_of, with_build

ROLES = "/usr/lib/python3/site-packages/dlgr_ansible/roles"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


def fake_task(role, path):
    return {"event": "playbook_on_task_start", "event_data": {"role": role, "task_path": path}}


FAKE_STATS = {"event": "playbook_on_stats", "event_data": {}}


def run_fake_deploy(timer: PhaseTimer, clock: FakeClock) -> None:
    """A deploy's tasks in deploy.yml's order, each taking the seconds given."""
    steps = [
        (1.9, None),  # ansible-playbook starting, before the first task
        (0.4, fake_task(None, f"{ROLES}/../playbooks/ping.yml:7")),
        (0.5, fake_task("docker_engine", f"{ROLES}/docker_engine/tasks/main.yml:3")),
        (0.3, fake_task("dallinger_server", f"{ROLES}/dallinger_server/tasks/main.yml:2")),
        (0.6, fake_task("docker_images", f"{ROLES}/docker_images/tasks/main.yml:5")),
        (0.2, fake_task("dallinger_server", f"{ROLES}/dallinger_server/tasks/main.yml:9")),
        (1.0, fake_task("dallinger_app", f"{ROLES}/dallinger_app/tasks/present.yml:40")),
        (0.2, fake_task("docker_images", f"{ROLES}/docker_images/tasks/main.yml:5")),
        (3.2, fake_task("dallinger_app", f"{ROLES}/dallinger_app/tasks/database.yml:1")),
        (1.3, fake_task("dallinger_app", f"{ROLES}/dallinger_app/tasks/launch.yml:12")),
        (0.0, fake_task("dallinger_app", f"{ROLES}/dallinger_app/tasks/present.yml:99")),
    ]
    for seconds, event in steps:
        if event:
            timer.handle(event)
        clock.wait(seconds)


def test_each_task_counts_until_the_next_and_recurring_phases_add_up():
    clock = FakeClock()
    timer = PhaseTimer(clock)
    run_fake_deploy(timer, clock)
    clock.wait(0.7)  # the last task ran 0.7 s more before the playbook ended
    timer.handle(FAKE_STATS)
    assert timer.phases() == [
        Phase("start", 1.9),
        Phase("provision", 1.4),
        Phase("delivery", 0.8),
        Phase("app", 4.9),
        Phase("launch", 1.3),
    ]


def test_time_after_the_end_and_events_after_it_do_not_count():
    clock = FakeClock()
    timer = PhaseTimer(clock)
    clock.wait(2.0)
    timer.handle(fake_task(None, "/p/ping.yml:7"))
    clock.wait(1.0)
    timer.handle(FAKE_STATS)
    clock.wait(30.0)
    timer.handle(fake_task("dallinger_app", "/r/dallinger_app/tasks/main.yml:1"))
    assert timer.phases() == [Phase("start", 2.0), Phase("provision", 1.0)]


def test_a_run_without_an_end_counts_up_to_its_last_event():
    clock = FakeClock()
    timer = PhaseTimer(clock)
    clock.wait(1.0)
    timer.handle(fake_task("docker_images", "/r/docker_images/tasks/main.yml:5"))
    clock.wait(4.0)
    timer.handle({"event": "runner_on_ok", "event_data": {"host": "h"}})
    clock.wait(60.0)  # canceled: nothing more came, however long we wait
    assert timer.phases() == [Phase("start", 1.0), Phase("delivery", 4.0)]


def test_phases_of_no_time_are_left_out():
    clock = FakeClock()
    timer = PhaseTimer(clock)
    timer.handle(fake_task("dallinger_app", "/r/dallinger_app/tasks/main.yml:1"))
    clock.wait(0.04)
    timer.handle(FAKE_STATS)
    assert timer.phases() == []


def test_which_phase_a_task_belongs_to():
    assert phase_of(None, "/p/playbooks/ping.yml:7") == "provision"
    assert phase_of("dallinger_common", None) == "provision"
    assert phase_of("docker_images", "/r/docker_images/tasks/main.yml:5") == "delivery"
    assert phase_of("dallinger_app", "/r/dallinger_app/tasks/launch.yml:3") == "launch"
    assert phase_of("dallinger_app", "/r/dallinger_app/handlers/launch.yml:3") == "app"
    assert phase_of("dallinger_app", "/r/dallinger_app/tasks/present.yml:92") == "app"
    assert phase_of("dallinger_app", None) == "app"
    # A deploy that builds here meanwhile waits for the build: its build phase.
    assert phase_of(None, "/p/playbooks/deploy.yml:70", "dlgr_deferred_wait") == "build"


def test_a_build_here_comes_first():
    run = [Phase("start", 1.9)]
    assert with_build(3.14, run) == [Phase("build", 3.1), Phase("start", 1.9)]
    assert with_build(None, run) == run
    assert with_build(0.01, run) == run


def test_a_run_state_feeds_its_timer_every_event():
    assert isinstance(RunState().phase_timer, PhaseTimer)
    clock = FakeClock()
    state = RunState(phase_timer=PhaseTimer(clock))
    state.handle(fake_task("docker_images", "/r/docker_images/tasks/main.yml:5"))
    clock.wait(2.5)
    state.handle(FAKE_STATS)
    assert state.finished
    assert state.phase_timer.phases() == [Phase("delivery", 2.5)]


def test_the_printed_line():
    phases = [Phase("build", 3.1), Phase("start", 1.9), Phase("launch", 1.3)]
    assert phases_line(phases) == "Time: build 3.1 s, start 1.9 s, launch 1.3 s (total 6.3 s)"
    assert phases_line([]) == ""


def test_a_build_before_the_run_and_the_runs_wait_for_one_are_one_phase():
    run = [Phase("build", 0.1), Phase("start", 1.9)]
    assert with_build(2.0, run) == [Phase("build", 2.1), Phase("start", 1.9)]
    assert with_build(None, run) == run
