"""The library's commands (dlgr_ansible.commands) with fake playbook runs: a Session
whose `execute` answers like ansible-runner would, with fake DNS and Docker lookups."""

import json
from pathlib import Path

import pytest

from dlgr_ansible import dozzle, sshkeys
from dlgr_ansible.build import Built
from dlgr_ansible.commands import apps, images, ops, servers
from dlgr_ansible.config import Config
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.events import RunState
from dlgr_ansible.history import run_variables
from dlgr_ansible.hosts import HostsStore, Server
from dlgr_ansible.phases import PhaseTimer
from dlgr_ansible.runner import RunOutcome
from dlgr_ansible.session import Session
from tests.unit.fakes import fake_local_images, fake_resolve, fake_resolve_nothing

HOST = "h.example.org"
# A new app from an image this machine has, as `deploy --app exp1 --image lab/exp:1`.
DEPLOY_OPTIONS = {
    "app_name": "exp1",
    "image": "lab/exp:1",
    "dns_host": "example.org",
    "tls": "internal",
    "server": None,
    "update": False,
    "archive": None,
    "registry_user": None,
    "keep_login": False,
    "ca_bundle": None,
    "ask_password": lambda: "",
}


class FakeClock:
    """Time that moves only when a fake task says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakePlaybooks:
    """Answers each run with what its playbook would hand back (set_stats), after the
    fake tasks given, as (seconds it took, role, task file) each, on a fake clock."""

    def __init__(self, answers=None, failing=(), changed=True, tasks=()):
        self.answers = answers or {}
        self.failing = set(failing)
        self.changed = changed
        self.tasks = tasks
        self.runs = []

    def __call__(self, run, title):
        self.runs.append((run, title))
        host, ok = run.limit, run.playbook not in self.failing
        clock = FakeClock()
        state = RunState(playbook=run.playbook, phase_timer=PhaseTimer(clock))
        for seconds, role, task_file in self.tasks:
            task = {"role": role, "task_path": f"/site-packages/dlgr_ansible/{task_file}:1"}
            state.handle({"event": "playbook_on_task_start", "event_data": task})
            clock.now += seconds
        state.handle(
            {
                "event": "playbook_on_stats",
                "event_data": {
                    "ok": {host: 3},
                    "changed": {host: int(self.changed)},
                    "failures": {} if ok else {host: 1},
                    "dark": {},
                    "processed": {host: 1},
                    "artifact_data": self.answers.get(run.playbook, {}),
                },
            }
        )
        return RunOutcome(state=state, status="successful" if ok else "failed", rc=0 if ok else 2)

    @property
    def variables(self):
        return self.runs[-1][0].variables


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_session(home, playbooks, config=None, saved=(HOST,), **lookups):
    key = home / "id_test"
    if not key.exists():
        sshkeys.create_key(key)
    store = HostsStore(home / "hosts", home / "old-hosts")
    for name in saved:
        store.add(Server(host=name, user="u"))
    settings = {"server_pem": str(key), "contact_email_on_error": "lab@example.org"}
    settings |= config or {}
    return Session(
        execute=playbooks,
        hosts=lambda: store,
        read_config=lambda overrides=(), saved_settings=None: Config(
            settings | (saved_settings or {}) | dict(overrides)
        ),
        resolve=lookups.get("resolve", fake_resolve),
        local_images=lookups.get("local_images", fake_local_images()),
    )


def test_a_server_is_saved_only_when_preparing_it_worked(home):
    playbooks = FakePlaybooks(
        {"prepare.yml": {"dlgr_servers": {"new.example.org": {"sudo": True}}}}
    )
    session = make_session(home, playbooks, saved=())
    report = servers.add(session, "New.Example.org", "u", 22, {})
    assert playbooks.variables == {"docker_engine_source": "official"} | run_variables(
        "servers add"
    )
    assert report.to_json()["saved"] is True
    assert report.to_json()["dlgr_servers"] == {"new.example.org": {"sudo": True}}
    assert "new.example.org" in session.store().servers()
    failing = FakePlaybooks(failing={"prepare.yml"})
    failed = servers.add(make_session(home, failing, saved=()), "other.example.org", "u", 22, {})
    assert failed.to_json()["saved"] is False
    assert "other.example.org" not in session.store().servers()


def test_settings_given_to_servers_add_are_saved_with_those_it_had(home):
    playbooks = FakePlaybooks()
    session = make_session(home, playbooks, saved=())
    session.store().add(Server(host=HOST, user="u", settings={"tls": "internal"}))
    servers.add(session, HOST, "u", 22, {"docker_engine_source": "distribution"})
    assert playbooks.variables["docker_engine_source"] == "distribution"
    saved = session.store().servers()[HOST].settings
    assert saved == {"tls": "internal", "docker_engine_source": "distribution"}


def test_servers_set_changes_and_forgets_settings_and_touches_no_server(home):
    playbooks = FakePlaybooks()
    session = make_session(home, playbooks)
    server = servers.set_settings(session, None, {"dns_host": "Lab.Example.org", "tls": "acme"}, ())
    assert server.settings == {"dns_host": "lab.example.org", "tls": "acme"}
    server = servers.set_settings(session, None, {"tls": "internal"}, ("dns_host",))
    assert session.store().servers()[HOST].settings == {"tls": "internal"}
    with pytest.raises(DlgrError, match="--unset recruiter: not a server setting"):
        servers.set_settings(session, None, {}, ("recruiter",))
    with pytest.raises(DlgrError, match="use 'acme' or 'internal'"):
        servers.set_settings(session, None, {"tls": "letsencrypt"}, ())
    assert session.store().servers()[HOST].settings == {"tls": "internal"}
    assert playbooks.runs == []


def test_a_deploy_uses_the_settings_saved_with_the_server_unless_told_otherwise(home):
    playbooks = FakePlaybooks({"deploy.yml": {"dlgr_app": {HOST: {"created": True}}}})
    session = make_session(home, playbooks, local_images=fake_local_images({"lab/exp:1"}))
    servers.set_settings(session, None, {"dns_host": "lab.example.org", "tls": "internal"}, ())
    options = DEPLOY_OPTIONS | {"dns_host": None, "tls": None}
    apps.deploy(session, "sandbox", **options)
    assert playbooks.variables["dallinger_app_dns_host"] == "lab.example.org"
    assert playbooks.variables["dallinger_server_tls"] == "internal"
    apps.deploy(session, "sandbox", **options | {"config_pairs": [("tls", "acme")]})
    assert playbooks.variables["dallinger_app_tls"] == "acme"
    apps.deploy(session, "sandbox", **options | {"dns_host": "other.example.org"})
    assert playbooks.variables["dallinger_app_dns_host"] == "other.example.org"


def test_restart_names_its_services_and_itself_and_checks_them_first(home):
    playbooks = FakePlaybooks({"restart.yml": {"dlgr_restart": {HOST: {"services": ["web"]}}}})
    session = make_session(home, playbooks)
    report = apps.restart(session, "exp1", None, ("web", "worker_1"))
    (run, title) = playbooks.runs[0]
    assert (run.playbook, title) == ("restart.yml", f"Restarting exp1 on {HOST}")
    assert run.variables["dallinger_app_restart_services"] == ["web", "worker_1"]
    assert run.variables["dallinger_run_command"] == "dlgr-ansible restart"
    assert report.to_json()["dlgr_restart"] == {HOST: {"services": ["web"]}}
    with pytest.raises(DlgrError, match="not a valid service name"):
        apps.restart(session, "exp1", None, ("web; reboot",))
    assert len(playbooks.runs) == 1


def test_deploy_plans_runs_and_reports_the_app(home):
    answers = {
        "deploy.yml": {
            "dlgr_app": {HOST: {"url": "https://exp1.example.org/", "created": True}},
            "dlgr_dozzle_password_set": {HOST: True},
            "dlgr_servers": {HOST: {"sudo": True}},
        }
    }
    tasks = [
        (1.2, None, "playbooks/ping.yml"),
        (0.8, "docker_images", "roles/docker_images/tasks/main.yml"),
        (4.2, "dallinger_app", "roles/dallinger_app/tasks/present.yml"),
        (1.3, "dallinger_app", "roles/dallinger_app/tasks/launch.yml"),
    ]
    playbooks = FakePlaybooks(answers, tasks=tasks)
    session = make_session(home, playbooks, local_images=fake_local_images({"lab/exp:1"}))
    report = apps.deploy(session, "sandbox", **DEPLOY_OPTIONS)
    (run, title) = playbooks.runs[0]
    assert (run.playbook, title) == ("deploy.yml", f"Deploying exp1 on {HOST}")
    assert run.variables["dallinger_app_images_from_controller"] == ["lab/exp:1"]
    assert run.variables["dallinger_server_tls"] == "internal"
    assert "dallinger_app_health_timeout" not in run.variables  # the role's default
    document = report.to_json()
    assert document["app"]["dashboard_password"]  # new, so shown once
    # Kept on this machine before the run that sets it.
    saved = Path(document["app"]["dashboard_password_file"]).read_text().strip()
    assert saved == document["app"]["dashboard_password"]
    assert document["dozzle"]["password"] == dozzle.read_saved(HOST)
    assert set(document) >= {"hosts", "ok", "dlgr_app", "dlgr_servers", "app", "dozzle"}
    # No build here, and the fake run starts at once: no "build", no "start".
    assert document["phases"] == [
        {"name": "provision", "seconds": 1.2},
        {"name": "delivery", "seconds": 0.8},
        {"name": "app", "seconds": 4.2},
        {"name": "launch", "seconds": 1.3},
    ]
    json.dumps(document)  # a document, not objects


def test_an_update_passes_its_health_timeout_to_the_role(home):
    playbooks = FakePlaybooks({"deploy.yml": {"dlgr_app": {HOST: {"created": False}}}})
    session = make_session(home, playbooks, local_images=fake_local_images({"lab/exp:1"}))
    options = DEPLOY_OPTIONS | {"update": True, "health_timeout": 30}
    apps.deploy(session, "live", **options)
    (run, _) = playbooks.runs[0]
    assert run.variables["dallinger_app_health_timeout"] == 30


def test_a_failed_deploy_reports_its_phases_up_to_the_failure(home):
    tasks = [(2.0, "dallinger_server", "roles/dallinger_server/tasks/main.yml")]
    playbooks = FakePlaybooks(failing={"deploy.yml"}, tasks=tasks)
    session = make_session(home, playbooks, local_images=fake_local_images({"lab/exp:1"}))
    document = apps.deploy(session, "live", **DEPLOY_OPTIONS).to_json()
    assert document["ok"] is False
    assert "app" not in document
    assert document["phases"] == [{"name": "provision", "seconds": 2.0}]


def test_deploy_stops_before_any_run_when_the_name_does_not_resolve(home):
    playbooks = FakePlaybooks()
    session = make_session(home, playbooks, resolve=fake_resolve_nothing)
    with pytest.raises(DlgrError, match="does not resolve"):
        apps.deploy(session, "live", **DEPLOY_OPTIONS)
    assert playbooks.runs == []


def test_destroy_asks_first_and_reports_what_it_removed(home):
    playbooks = FakePlaybooks()
    session = make_session(home, playbooks)
    asked = []
    report = apps.destroy(session, "exp1", None, False, lambda *question: asked.append(question))
    assert asked == [
        ("exp1", f"Remove exp1 from {HOST}: containers, Caddy site, database, role and data?")
    ]
    assert playbooks.variables == {
        "dallinger_app_name": "exp1",
        "dallinger_destroy_backup": False,
    } | run_variables("destroy --no-backup")
    assert report.to_json()["destroyed"] == "exp1"
    assert "backup" not in report.to_json()

    def refuse(name, question):
        raise DlgrError("no")

    with pytest.raises(DlgrError):
        apps.destroy(session, "exp1", None, True, refuse)
    assert len(playbooks.runs) == 1


def test_server_views_read_their_own_keys_and_do_not_pass_them_on(home):
    answers = {
        "apps.yml": {
            "dlgr_apps": {HOST: {"compose_files": ["/x/dallinger/a1/docker-compose.yml"]}}
        },
        "db_connections.yml": {
            "dlgr_db_connections": {
                HOST: {"report": {"max_connections": 9, "databases": {"a1": 2}}}
            }
        },
    }
    session = make_session(home, FakePlaybooks(answers))
    listed = ops.apps(session, None).to_json()
    assert listed["apps"] == [
        {"name": "a1", "state": "inactive", "url": "-", "image": "-", "server": HOST}
    ]
    assert listed["servers"] == {HOST: {"ok": True, "state": "ok", "error": ""}}
    assert "dlgr_apps" not in listed
    counted = ops.db_connections(session, None).to_json()
    assert counted["connections"]["total"] == 2
    assert "dlgr_db_connections" not in counted


def test_logs_of_a_missing_app_say_so(home):
    answers = {"logs.yml": {"dlgr_logs": {HOST: {"found": False}}}}
    session = make_session(home, FakePlaybooks(answers))
    with pytest.raises(DlgrError, match="no app a1"):
        ops.logs(session, "a1", None, "web", None, follow=False, tty=False)
    answers = {"logs.yml": {"dlgr_logs": {HOST: {"found": True, "text": "hello\n"}}}}
    read = ops.logs(make_session(home, FakePlaybooks(answers)), "a1", None, "web", 5, False, False)
    assert read.text == "hello\n"


def test_a_dozzle_password_the_server_did_not_take_is_not_kept(home):
    dozzle.save(HOST, "old")
    playbooks = FakePlaybooks(failing={"dozzle_password.yml"})
    report = ops.set_dozzle_password(make_session(home, playbooks), None, "new pass", lambda: "")
    assert "new pass" not in json.dumps(report.to_json())  # only the hash left here
    assert playbooks.variables["dlgr_dozzle_password"] == "new pass"
    assert dozzle.read_saved(HOST) == "old"
    answers = {"dozzle_password.yml": {"dlgr_dozzle": {HOST: {"changed": True}}}}
    report = ops.set_dozzle_password(
        make_session(home, FakePlaybooks(answers)), None, None, lambda: "typed"
    )
    assert report.to_json()["dozzle"]["changed"] is True
    assert dozzle.read_saved(HOST) == "typed"


def test_images_need_a_local_image_to_push(home):
    playbooks = FakePlaybooks({"images.yml": {"dlgr_images": {HOST: {"lab/x:1": {"msg": "sent"}}}}})
    session = make_session(home, playbooks, local_images=fake_local_images({"lab/x:1"}))
    report = images.push(session, None, "lab/x:1")
    assert playbooks.variables["docker_images_from_controller"] == ["lab/x:1"]
    assert report.to_json()["dlgr_images"][HOST]["lab/x:1"]["msg"] == "sent"
    with pytest.raises(DlgrError, match="not in your local Docker"):
        images.push(session, None, "lab/y:1")


def test_history_keeps_the_newest_runs_of_the_app_asked_for(home):
    lines = [
        json.dumps({"time": f"t{number}", "app": "exp1" if number % 2 else "exp2"})
        for number in range(1, 8)
    ]
    playbooks = FakePlaybooks({"history.yml": {"dlgr_history": {HOST: lines}}})
    session = make_session(home, playbooks)
    report = ops.history(session, None, "exp1", last=2)
    assert [row["time"] for row in report.to_json()["history"]] == ["t5", "t7"]
    assert len(ops.history(session, None, None, last=0).entries) == 7
    # Reading changes nothing, so it takes no lock and records no line.
    assert "dallinger_run_command" not in playbooks.variables


def test_history_refuses_a_bad_app_name_and_a_negative_count(home):
    playbooks = FakePlaybooks()
    session = make_session(home, playbooks)
    with pytest.raises(DlgrError, match="not a valid app name"):
        ops.history(session, None, "Bad_Name", last=1)
    with pytest.raises(DlgrError, match="--last must be 0"):
        ops.history(session, None, None, last=-1)
    assert playbooks.runs == []


def test_every_changing_command_names_itself_for_the_lock_and_history(home):
    playbooks = FakePlaybooks()
    session = make_session(home, playbooks)
    apps.rollback(session, "exp1", None)
    assert playbooks.variables["dallinger_run_command"] == "dlgr-ansible rollback"
    images.pull(session, None, "redis:8", None, False, lambda: "")
    assert playbooks.variables["dallinger_run_command"] == "dlgr-ansible images pull"


def test_a_server_saved_as_localhost_runs_under_another_name_and_reports_as_saved(home):
    """The playbook sees `server-localhost` (an inventory host called localhost would take
    every `delegate_to: localhost`); what the researcher reads says localhost."""
    lines = [json.dumps({"time": "t1", "app": "exp1"})]
    playbooks = FakePlaybooks({"history.yml": {"dlgr_history": {"server-localhost": lines}}})
    session = make_session(home, playbooks, saved=("localhost",))
    report = ops.history(session, None, None, last=0)
    run = playbooks.runs[-1][0]
    assert run.limit == "server-localhost"
    assert [row["time"] for row in report.to_json()["history"]] == ["t1"]
    assert list(report.to_json()["hosts"]) == ["localhost"]
    assert report.ran.host == "localhost"


def test_a_server_saved_as_localhost_keeps_the_dozzle_login_it_took(home):
    """The playbook says under its inventory name that the server took the login."""
    answers = {"provision.yml": {"dlgr_dozzle_password_set": {"server-localhost": True}}}
    session = make_session(home, FakePlaybooks(answers), saved=("localhost",))
    report = servers.provision_servers(session, None, False, "example.org", "internal", None, ())
    offered = report.to_json()["dozzle"]
    assert offered["user"] == dozzle.USER
    assert dozzle.read_saved("localhost") == offered["password"]


@pytest.fixture
def experiment_here(home, monkeypatch):
    """The working directory holds an experiment, whose (fake) build makes lab/exp:built."""
    (home / "config.txt").write_text("[Experiment]\n")
    (home / "experiment.py").write_text("")
    monkeypatch.setattr(apps, "check_build", lambda *args: "lab/exp")
    monkeypatch.setattr(apps, "_build", lambda *args: Built("lab/exp:built", new=True))
    return home


def test_an_image_built_here_is_built_while_the_playbook_starts(experiment_here):
    playbooks = FakePlaybooks()
    local = fake_local_images({"lab/exp:built"})
    session = make_session(experiment_here, playbooks, local_images=local)
    apps.deploy(session, "sandbox", **(DEPLOY_OPTIONS | {"image": None}))
    run = playbooks.runs[0][0]
    # Only the build names the image: the playbook waits for those variables, which
    # extra vars given at its start would override.
    assert not set(apps.IMAGE_VARIABLES) & set(run.variables)
    assert run.presave == ()
    done = run.deferred()
    assert done.variables["dallinger_app_image"] == "lab/exp:built"
    assert done.variables["dallinger_app_environment"]["docker_image_name"] == "lab/exp:built"
    assert done.variables["dallinger_app_images_from_controller"] == ["lab/exp:built"]
    assert done.presave == ("lab/exp:built",)  # a new image: saved while the run goes on


def test_a_registry_login_waits_for_the_build_to_name_its_registry(experiment_here):
    playbooks = FakePlaybooks()
    local = fake_local_images({"lab/exp:built"})
    session = make_session(experiment_here, playbooks, local_images=local)
    options = DEPLOY_OPTIONS | {"image": None, "registry_user": "me", "ask_password": lambda: "pw"}
    apps.deploy(session, "sandbox", **options)
    run = playbooks.runs[0][0]
    assert run.deferred is None
    assert run.variables["dallinger_app_image"] == "lab/exp:built"
    assert run.variables["docker_images_registry_logins"][0]["username"] == "me"
