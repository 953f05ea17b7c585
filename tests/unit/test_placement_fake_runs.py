"""Where a new app may go, with a fake playbook runner: the placement rule's variable,
the refusal that names servers with room, `--server auto`, the capacity view."""

import pytest

from dlgr_ansible import capacity, placement, server_settings
from dlgr_ansible.commands import apps, ops
from dlgr_ansible.validate import ValidationError
from tests.unit.test_commands_fake_runs import DEPLOY_OPTIONS, make_session
from tests.unit.test_fleet_fake_runs import LAB1, LAB2, LAB3, FakeFleetPlaybooks

GIB = 2**30


def room(memory_gib: int, *running: str, available_gib: int = 4) -> dict:
    return {
        "memory_total": memory_gib * GIB,
        "memory_available": available_gib * GIB,
        "cpus": 2,
        "disk_free": 10**10,
        "disk_total": 10**11,
        "docker_root": "/var/lib/docker",
        "docker": True,
        "apps_running": list(running),
    }


ROOMS = {LAB1: room(16, "a", "b", "c"), LAB2: room(16, "d"), LAB3: room(32, available_gib=30)}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_rule_counts_each_running_app_with_its_share():
    full = capacity.Room.from_report(LAB1, ROOMS[LAB1], 5.0)
    assert full.apps_that_fit == 0  # 17.2 GB hold 3 shares of 5 GB, and 3 run
    assert capacity.Room.from_report(LAB2, ROOMS[LAB2], 5.0).apps_that_fit == 2
    assert capacity.Room.from_report(LAB1, ROOMS[LAB1], 2.0).apps_that_fit == 5
    assert "lab1.example.org has no room for another app: 3 run (a, b, c)" in capacity.reason(full)
    assert "No other saved server has room" in capacity.elsewhere([])
    # A server where no app runs takes one, however small.
    assert capacity.Room.from_report(LAB1, room(2), 5.0).apps_that_fit == 1


@pytest.mark.parametrize("value", ["0", "-1", "five", "nan", "inf"])
def test_a_bad_rule_is_refused_with_what_to_give(value):
    with pytest.raises(ValidationError, match="a number above 0"):
        capacity.memory_per_app(value)
    with pytest.raises(server_settings.SettingsProblem, match="memory_per_app_gb"):
        server_settings.checked({"memory_per_app_gb": value}, "servers set")


def test_a_new_app_carries_the_rule_and_an_update_or_force_does_not(home):
    playbooks = FakeFleetPlaybooks()
    session = make_session(home, playbooks, config={"memory_per_app_gb": "3"})
    apps.deploy(session, "live", **DEPLOY_OPTIONS)
    assert playbooks.runs[-1][0].variables[placement.RULE_VARIABLE] == 3.0
    apps.deploy(session, "live", **DEPLOY_OPTIONS | {"update": True})
    assert placement.RULE_VARIABLE not in playbooks.runs[-1][0].variables
    apps.deploy(session, "live", **DEPLOY_OPTIONS | {"force": True})
    assert placement.RULE_VARIABLE not in playbooks.runs[-1][0].variables


def test_a_refused_deploy_names_the_servers_with_room(home):
    answers = {
        "deploy.yml": {placement.PLACEMENT_KEY: {LAB1: ROOMS[LAB1] | {"refused": True}}},
        "capacity.yml": {capacity.CAPACITY_KEY: ROOMS},
    }
    playbooks = FakeFleetPlaybooks(answers, failing={("deploy.yml", LAB1)})
    session = make_session(home, playbooks, saved=(LAB1, LAB2, LAB3))
    report = apps.deploy(session, "live", **DEPLOY_OPTIONS | {"server": LAB1})
    assert not report.ok
    (advice,) = report.advice
    assert f"Servers with room: {LAB2} (2 more), {LAB3} (6 more)" in advice
    assert "--force" in advice
    assert report.to_json()["errors"][-1] == advice  # --json has it too
    # The other servers were measured in one run, the refused one left out.
    run, _ = playbooks.runs[-1]
    assert (run.playbook, run.limit) == ("capacity.yml", f"{LAB2},{LAB3}")


def test_server_auto_takes_the_server_that_has_the_app_already(home):
    answers = {
        "capacity.yml": {capacity.CAPACITY_KEY: ROOMS | {LAB1: ROOMS[LAB1] | {"app_exists": True}}}
    }
    playbooks = FakeFleetPlaybooks(answers)
    session = make_session(home, playbooks, saved=(LAB1, LAB2, LAB3))
    apps.deploy(session, "live", **DEPLOY_OPTIONS | {"server": "auto"})
    assert playbooks.runs[0][0].variables[placement.APP_VARIABLE] == "exp1"
    assert playbooks.runs[-1][0].limit == LAB1


def test_server_auto_picks_the_server_with_the_most_room(home):
    answers = {"capacity.yml": {capacity.CAPACITY_KEY: ROOMS}}
    playbooks = FakeFleetPlaybooks(answers, unreachable={LAB2})
    said = []
    session = make_session(home, playbooks, saved=(LAB1, LAB2, LAB3))
    session.log = said.append
    apps.deploy(session, "live", **DEPLOY_OPTIONS | {"server": "auto"})
    assert playbooks.runs[-1][0].limit == LAB3
    assert said == [f"--server auto: {LAB3}, room for 6 more app(s) (32.2 GB of memory available)"]
    with pytest.raises(ValidationError, match="--server auto places a new app"):
        apps.deploy(session, "live", **DEPLOY_OPTIONS | {"server": "auto", "update": True})


def test_server_auto_refuses_when_no_server_has_room_unless_forced(home):
    answers = {"capacity.yml": {capacity.CAPACITY_KEY: {LAB1: ROOMS[LAB1]}}}
    playbooks = FakeFleetPlaybooks(answers)
    session = make_session(home, playbooks, saved=(LAB1,))
    with pytest.raises(placement.PlacementProblem, match="no saved server has room"):
        apps.deploy(session, "live", **DEPLOY_OPTIONS | {"server": "auto"})
    assert [run.playbook for run, _ in playbooks.runs] == ["capacity.yml"]
    apps.deploy(session, "live", **DEPLOY_OPTIONS | {"server": "auto", "force": True})
    assert playbooks.runs[-1][0].playbook == "deploy.yml"


def test_the_capacity_view_uses_each_servers_own_rule(home):
    answers = {"capacity.yml": {capacity.CAPACITY_KEY: ROOMS}}
    session = make_session(home, FakeFleetPlaybooks(answers), saved=(LAB1, LAB2, LAB3))
    store = session.store()
    lab1 = store.servers()[LAB1]
    store.add(type(lab1)(host=LAB1, user="u", settings={"memory_per_app_gb": "2"}))
    document = ops.room(session, every=True).to_json()
    assert document["capacity"][LAB1]["memory_per_app_gb"] == 2.0
    assert document["capacity"][LAB1]["apps_that_fit"] == 5
    assert document["capacity"][LAB2]["apps_that_fit"] == 2
    assert document["servers"][LAB3]["ok"] is True
