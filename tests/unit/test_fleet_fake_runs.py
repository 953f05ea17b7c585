"""Several servers in one run, with a fake playbook runner: which servers a command is
about, one outcome per server, the tables' server column, each server's own settings."""

import dataclasses
import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from dlgr_ansible import dozzle
from dlgr_ansible.cli import cli, tables
from dlgr_ansible.commands import ops, servers
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.events import RunState
from dlgr_ansible.fleet import ServerOutcome
from dlgr_ansible.hosts import HostsProblem
from dlgr_ansible.runner import RunOutcome
from dlgr_ansible.validate import ValidationError
from tests.unit.fakes import fake_app
from tests.unit.test_commands_fake_runs import make_session

LAB1, LAB2, LAB3 = "lab1.example.org", "lab2.example.org", "lab3.example.org"


class FakeFleetPlaybooks:
    """Answers each run for every server it names; the servers in `unreachable` cannot be
    reached, as Ansible reports it, and the others finish."""

    def __init__(self, answers=None, unreachable=(), failing=()):
        self.answers = answers or {}
        self.unreachable = set(unreachable)
        self.failing = set(failing)  # (playbook, host): the run fails there
        self.runs = []

    def __call__(self, run, title):
        self.runs.append((run, title))
        hosts = run.limit.split(",")
        state = RunState(playbook=run.playbook)
        for host in hosts:
            if host in self.unreachable:
                state.handle(
                    {
                        "event": "runner_on_unreachable",
                        "event_data": {
                            "host": host,
                            "task": "Log in",
                            "res": {"msg": "Failed to connect to the host via ssh: timed out"},
                        },
                    }
                )
            elif (run.playbook, host) in self.failing:
                state.handle(
                    {
                        "event": "runner_on_failed",
                        "event_data": {"host": host, "task": "Check", "res": {"msg": "refused"}},
                    }
                )
        failed = {host for host in hosts if (run.playbook, host) in self.failing}
        reached = [host for host in hosts if host not in self.unreachable]
        handed = {
            key: {host: value for host, value in per_host.items() if host in reached}
            for key, per_host in self.answers.get(run.playbook, {}).items()
        }
        state.handle(
            {
                "event": "playbook_on_stats",
                "event_data": {
                    "ok": dict.fromkeys(reached, 2),
                    "dark": dict.fromkeys(self.unreachable & set(hosts), 1),
                    "failures": dict.fromkeys(failed, 1),
                    "processed": dict.fromkeys(hosts, 1),
                    "artifact_data": handed,
                },
            }
        )
        ok = not (self.unreachable & set(hosts)) and not failed
        return RunOutcome(state=state, status="successful" if ok else "failed", rc=0 if ok else 4)


APPS = {
    "apps.yml": {
        "dlgr_apps": {
            LAB1: {"compose_files": ["/h/dallinger/a1/docker-compose.yml"]},
            LAB2: {"compose_files": ["/h/dallinger/b1/docker-compose.yml"]},
            LAB3: {},
        }
    }
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_all_runs_once_over_every_saved_server(home):
    playbooks = FakeFleetPlaybooks(APPS)
    session = make_session(home, playbooks, saved=(LAB1, LAB2, LAB3))
    report = ops.apps(session, every=True)
    assert len(playbooks.runs) == 1
    run, _ = playbooks.runs[0]
    assert run.limit == f"{LAB1},{LAB2},{LAB3}"
    assert [(app.server, app.name) for app in report.apps] == [(LAB1, "a1"), (LAB2, "b1")]
    assert all(outcome.ok for outcome in report.servers)
    assert report.ok


def test_an_unreachable_server_is_reported_in_its_row_and_the_others_finish(home):
    playbooks = FakeFleetPlaybooks(APPS, unreachable={LAB2})
    session = make_session(home, playbooks, saved=(LAB1, LAB2, LAB3))
    report = ops.apps(session, (LAB1, LAB2, LAB3))
    assert not report.ok  # the exit code says one failed
    document = report.to_json()
    assert [app["name"] for app in document["apps"]] == ["a1"]
    assert document["servers"][LAB1] == {"ok": True, "state": "ok", "error": ""}
    assert document["servers"][LAB2]["state"] == "unreachable"
    assert LAB2 in document["servers"][LAB2]["error"]
    assert document["servers"][LAB3]["ok"] is True
    console = Console(file=io.StringIO(), width=200)
    console.print(tables.apps_table(report.apps, report.servers))
    text = console.file.getvalue()
    assert "unreachable" in text
    assert "(no apps)" in text  # LAB3 answered, with nothing on it


def test_the_same_server_twice_runs_once(home):
    playbooks = FakeFleetPlaybooks(APPS)
    session = make_session(home, playbooks, saved=(LAB1, LAB2))
    report = ops.apps(session, (LAB1, LAB1))
    assert playbooks.runs[0][0].limit == LAB1
    assert [outcome.server for outcome in report.servers] == [LAB1]


def test_all_and_server_together_are_refused(home):
    session = make_session(home, FakeFleetPlaybooks(), saved=(LAB1,))
    with pytest.raises(ValidationError, match="--all or --server"):
        ops.apps(session, (LAB1,), every=True)


def test_an_unknown_server_is_refused_before_anything_runs(home):
    playbooks = FakeFleetPlaybooks()
    session = make_session(home, playbooks, saved=(LAB1,))
    with pytest.raises(HostsProblem, match="Unknown server"):
        ops.apps(session, (LAB1, "nowhere.example.org"))
    assert playbooks.runs == []


def test_db_connections_of_several_servers_are_keyed_by_server(home):
    answers = {
        "db_connections.yml": {
            "dlgr_db_connections": {
                LAB1: {"report": {"max_connections": 100, "databases": {"a1": 3}}},
                LAB2: {"report": {"max_connections": 100, "databases": {}}},
            }
        }
    }
    session = make_session(home, FakeFleetPlaybooks(answers), saved=(LAB1, LAB2))
    document = ops.db_connections(session, every=True).to_json()
    assert "connections" not in document
    assert document["connections_by_server"][LAB1]["total"] == 3
    single = ops.db_connections(session, LAB1).to_json()
    assert single["connections"]["total"] == 3
    assert "connections_by_server" not in single


def test_stats_rows_name_their_server_and_follow_takes_one(home):
    line = json.dumps({"Name": "a1-web-1", "CPUPerc": "1%"})
    answers = {"stats.yml": {"dlgr_stats": {LAB1: [line], LAB2: [line]}}}
    session = make_session(home, FakeFleetPlaybooks(answers), saved=(LAB1, LAB2))
    report = ops.stats(session, (LAB1, LAB2), follow=False, as_json=True, tty=False)
    assert [row["server"] for row in report.containers] == [LAB1, LAB2]
    with pytest.raises(ValidationError, match="one --server"):
        ops.stats(session, (), follow=True, as_json=False, tty=False, every=True)


def test_servers_check_reports_each_server(home):
    answers = {"ping.yml": {"dlgr_servers": {LAB1: {"os": "Debian"}, LAB2: {"os": "Debian"}}}}
    playbooks = FakeFleetPlaybooks(answers, unreachable={LAB1})
    session = make_session(home, playbooks, saved=(LAB1, LAB2))
    document = servers.check(session, every=True).to_json()
    assert document["servers"][LAB1]["state"] == "unreachable"
    assert document["servers"][LAB2]["ok"] is True
    assert list(document["dlgr_servers"]) == [LAB2]


def test_the_table_rows_of_a_server_without_rows():
    outcomes = [ServerOutcome(LAB1, True), ServerOutcome(LAB2, False, "broken", False)]
    console = Console(file=io.StringIO(), width=200)
    console.print(tables.stats_table([], outcomes))
    text = console.file.getvalue()
    assert "(no containers)" in text
    assert "failed" in text


def test_the_cli_refuses_all_with_server_without_a_traceback(home):
    result = CliRunner().invoke(cli, ["apps", "--all", "--server", LAB1], obj=fake_app())
    assert result.exit_code != 0
    assert "--all or --server" in result.output
    assert "Traceback" not in result.output


def saved_with(session, host: str, **settings) -> None:
    store = session.store()
    store.add(dataclasses.replace(store.resolve(host), settings=settings))


def test_provision_of_several_servers_gives_each_its_own_settings_in_one_run(home):
    answers = {"provision.yml": {dozzle.OFFER_TAKEN_KEY: {LAB1: True, LAB2: False}}}
    playbooks = FakeFleetPlaybooks(answers)
    session = make_session(home, playbooks, saved=(LAB1, LAB2))
    saved_with(session, LAB1, tls="internal", dns_host="lab1.example.org")
    saved_with(session, LAB2, tls="acme", acme_email="ops@example.org")
    report = servers.provision_servers(session, (LAB1, LAB2), False, None, None, None, ())
    ((run, title),) = playbooks.runs
    assert run.limit == f"{LAB1},{LAB2}"
    assert title == f"Provisioning {LAB1}, {LAB2}"
    own = run.host_variables
    assert own[LAB1]["dallinger_server_tls"] == "internal"
    assert own[LAB1]["dallinger_server_dns_host"] == "lab1.example.org"
    assert own[LAB2]["dallinger_server_tls"] == "acme"
    assert own[LAB2]["dallinger_server_acme_email"] == "ops@example.org"
    # Each server is offered a password of its own, and only its hash goes to the server.
    assert (
        own[LAB1]["dallinger_server_dozzle_password_hash"]
        != (own[LAB2]["dallinger_server_dozzle_password_hash"])
    )
    assert "dallinger_server_tls" not in run.variables
    assert run.variables["dallinger_server_reprovision"] is True
    document = report.to_json()
    assert list(document["dozzle_by_server"]) == [LAB1]  # LAB2 keeps a password of its own
    assert document["dozzle_by_server"][LAB1]["password"] == dozzle.read_saved(LAB1)
    assert dozzle.read_saved(LAB2) is None
    assert document["servers"][LAB2]["ok"] is True


def test_provision_reports_an_unreachable_server_and_keeps_the_others_login(home):
    answers = {"provision.yml": {dozzle.OFFER_TAKEN_KEY: {LAB1: True}}}
    playbooks = FakeFleetPlaybooks(answers, unreachable={LAB2})
    session = make_session(home, playbooks, saved=(LAB1, LAB2), config={"tls": "internal"})
    report = servers.provision_servers(session, (), True, None, None, None, ())
    assert not report.ok
    document = report.to_json()
    assert document["servers"][LAB2]["state"] == "unreachable"
    assert document["dozzle_by_server"][LAB1]["password"] == dozzle.read_saved(LAB1)
    # The password offered to the server not reached stays here for its next provision.
    assert dozzle.read_saved(LAB2)


def test_provision_of_several_refuses_one_dns_host_and_names_a_server_with_bad_settings(home):
    playbooks = FakeFleetPlaybooks()
    session = make_session(home, playbooks, saved=(LAB1, LAB2), config={"tls": "internal"})
    with pytest.raises(ValidationError, match="one --server"):
        servers.provision_servers(session, (), True, "example.org", None, None, ())
    saved_with(session, LAB2, tls="acme")
    session = make_session(
        home, playbooks, saved=(), config={"tls": "internal", "contact_email_on_error": ""}
    )
    with pytest.raises(DlgrError, match=f"^{LAB2}: Certificates from Let's Encrypt"):
        servers.provision_servers(session, (LAB1, LAB2), False, None, None, None, ())
    assert playbooks.runs == []
    assert dozzle.read_saved(LAB1) is None  # nothing offered before every server was checked


def test_the_cli_shows_each_servers_new_dozzle_login_even_when_another_failed(home):
    answers = {"provision.yml": {dozzle.OFFER_TAKEN_KEY: {LAB1: True}}}
    playbooks = FakeFleetPlaybooks(answers, unreachable={LAB2})
    session = make_session(home, playbooks, saved=(LAB1, LAB2), config={"tls": "internal"})
    app = fake_app()
    app.session = lambda: session
    result = CliRunner().invoke(cli, ["provision", "--all"], obj=app)
    assert result.exit_code == 1
    assert f"{LAB1}: Dozzle log viewer: user dallinger, password " in result.output
    assert dozzle.read_saved(LAB1) in result.output
    assert "Traceback" not in result.output
