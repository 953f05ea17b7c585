"""Work done here while a playbook starts (runner.Deferred, the build of the image a
deploy sends), with a fake ansible-runner whose "playbook" waits for the variables as
deploy.yml does; and the progress display, held while that work prints."""

import io
import json
import threading
import time
import types
from pathlib import Path

import pytest
from rich.console import Console

from dlgr_ansible import presave, progress, runner
from dlgr_ansible.events import RunState
from dlgr_ansible.hosts import Server


class FakeRunner:
    """ansible_runner.run_async: a thread that looks for the deferred variables (or the
    mark that they will not come) as the playbook's wait does, and sends one event."""

    def __init__(self):
        self.saw = {}

    def __call__(self, **arguments):
        extra = arguments["cmdline"].split("@", 1)[1].strip("'")
        self.saw["vars_file"] = extra
        result = types.SimpleNamespace(status="successful", rc=0)

        def playbook():
            variables = json.loads(Path(extra).read_text(encoding="utf-8"))
            path = Path(variables[runner.DEFERRED_VARIABLE])
            failed = path.with_name(path.name + runner.FAILED_SUFFIX)
            deadline = time.monotonic() + 10
            while not path.exists() and not failed.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            if path.exists():
                self.saw["mode"] = oct(path.stat().st_mode & 0o777)
                self.saw["deferred"] = json.loads(path.read_text(encoding="utf-8"))
            else:
                self.saw["failed"] = failed.exists()
                result.status, result.rc = "failed", 2
            self.saw["path"] = path
            failures = {} if result.rc == 0 else {"h": 1}
            stats = {"ok": {"h": 1}, "failures": failures, "processed": {"h": 1}}
            arguments["event_handler"]({"event": "playbook_on_stats", "event_data": stats})

        thread = threading.Thread(target=playbook)
        thread.start()
        return thread, result


@pytest.fixture
def fake_runner(monkeypatch, tmp_path):
    fake = FakeRunner()
    monkeypatch.setattr(runner.ansible_runner, "run_async", fake)
    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path))
    saved = []

    def saving(names, directory):
        saved.append(list(names))
        return runner.contextlib.nullcontext()

    monkeypatch.setattr(presave, "saving", saving)
    fake.saved = saved
    return fake


def deploy_run(tmp_path, work) -> runner.PlaybookRun:
    key = tmp_path / "key"
    key.write_text("")
    return runner.PlaybookRun(
        playbook="ping.yml",
        servers={"h": Server(host="h", user="u")},
        key_file=key,
        known_hosts=tmp_path / "known_hosts",
        variables={"given": 1},
        deferred=work,
    )


def test_the_playbook_gets_the_variables_once_the_work_is_done(fake_runner, tmp_path):
    def build():
        time.sleep(0.2)  # the playbook starts meanwhile and waits
        return runner.Deferred({"dallinger_app_image": "lab/exp:1"}, ("lab/exp:1",))

    outcome = runner.run_playbook(deploy_run(tmp_path, build))
    assert outcome.ok
    assert fake_runner.saw["deferred"] == {"dallinger_app_image": "lab/exp:1"}
    assert fake_runner.saw["mode"] == "0o600"
    assert fake_runner.saved == [["lab/exp:1"]]  # saved once the build named it
    # The variables (the app's environment among them) do not outlive the run.
    assert not fake_runner.saw["path"].exists()
    assert not fake_runner.saw["path"].parent.exists()


def test_work_that_fails_stops_the_playbook_where_it_waits_and_raises_after(fake_runner, tmp_path):
    def build():
        raise runner.DlgrError("the build failed")

    with pytest.raises(runner.DlgrError, match="the build failed"):
        runner.run_playbook(deploy_run(tmp_path, build))
    assert fake_runner.saw["failed"] is True
    assert fake_runner.saved == []


def test_the_display_is_held_while_the_work_prints_then_shows_what_came(fake_runner, tmp_path):
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    seen = []

    def build():
        time.sleep(0.2)
        seen.append(out.getvalue())  # what the run showed while the build printed
        return runner.Deferred({})

    outcome = progress.run_with_progress(deploy_run(tmp_path, build), "Deploying", console)
    assert outcome.ok
    assert seen == [""]
    assert "Deploying" in out.getvalue()


def test_held_events_are_drawn_on_release():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    state = RunState()
    state.task = "Log in"
    ran = {"event": "runner_on_ok", "event_data": {}}
    with progress.Progress(console, "Deploying", held=True) as shown:
        shown(ran, state)
        assert out.getvalue() == ""
        shown.release()
        assert "Deploying" in out.getvalue()
        assert "Log in" in out.getvalue()
