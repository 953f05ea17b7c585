"""`move` with fake playbook runs (no server): what it reads from the server the app leaves,
what it hands the new server's deploy, when it asks, and what it does after a failure."""

import io
import json
import tarfile
from pathlib import Path

import pytest

from dlgr_ansible import capacity, local_secrets
from dlgr_ansible import move as moving
from dlgr_ansible.commands import move as commands
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.validate import ValidationError
from tests.unit.fakes import fake_local_images, fake_resolve_nothing
from tests.unit.test_commands_fake_runs import FakePlaybooks, make_session

OLD, NEW = "old.example.org", "new.example.org"
GB = 10**9
ROOM = {"memory_total": 16 * GB, "memory_available": 12 * GB, "docker": True, "apps_running": ["a"]}
IMAGE = "lab/exp:1"
ROWS = {"public.participant": {"rows": 3, "sum": "-12"}, "public.info": {"rows": 2, "sum": "40"}}
ANYWHERE = "0.0.0.0"  # noqa: S104 (the address the web listens on, in the app's environment)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compose_settings(**changes) -> dict:
    """`docker compose config --format json` of an app as the role lays it out (trimmed)."""
    web = {
        "image": IMAGE,
        "environment": {
            "mode": "live",
            "dashboard_password": "pw-1",
            "tricky": "costs $$5, not $$$$HOME",
            "empty": None,
            "FLASK_SECRET_KEY": "flask-1",
            "DALLINGER_UID": "uid-1",
            "DATABASE_URL": "postgresql://exp1:dbpw@exp1_pgbouncer/exp1",
            "REDIS_URL": "redis://exp1_redis:6379",
            "HOME": "/tmp",
            "HOST": ANYWHERE,
            "host": ANYWHERE,
            "PORT": "5000",
        },
        "volumes": [
            {
                "type": "bind",
                "source": "/home/u/dallinger-data/exp1",
                "target": "/var/lib/dallinger",
            },
            {"type": "bind", "source": "/srv/stimuli", "target": "/stimuli", "read_only": True},
            {
                "type": "bind",
                "source": "/home/u/psynet-data/assets",
                "target": "/psynet-data/assets",
            },
        ],
    }
    services = {
        "web": web,
        "worker_1": {"image": IMAGE, "cpu_shares": 512},
        "worker_2": {"image": IMAGE, "cpu_shares": 512},
        "clock": {"image": IMAGE},
        "redis": {"image": "redis:8"},
        "pgbouncer": {"image": "edoburu/pgbouncer:v1", "labels": {moving.OURS_LABEL: "x"}},
    }
    for name, service in changes.items():
        services[name] = service
    return {"services": {name: s for name, s in services.items() if s is not None}}


def write_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


class FakeMove(FakePlaybooks):
    """move_out.yml also leaves what the real one fetches: the settings file and the backup
    beside its zip; each playbook hands back what the real one would."""

    def __init__(self, settings=None, new_rows=ROWS, stopped=True, room=None, **options):
        answers = {
            "capacity.yml": {capacity.CAPACITY_KEY: {NEW: room or ROOM}},
            "move_out.yml": {"dlgr_rows": {OLD: ROWS}}
            | ({"dlgr_move_stopped": {OLD: True}} if stopped else {}),
            "deploy.yml": {"dlgr_rows": {NEW: new_rows}, "dlgr_app": {NEW: {"created": True}}},
        }
        super().__init__(answers=answers, **options)
        self.settings = settings or compose_settings()

    def __call__(self, run, title):
        if run.playbook == "move_out.yml":
            Path(run.variables["dlgr_move_settings"]).write_text(json.dumps(self.settings))
            parts = moving.parts(Path(run.variables["dallinger_export_dest"]))
            parts["dump"].write_bytes(b"PGDMP")
            write_tar(parts["files"], {"exp1/note.txt": b"hi"})
        return super().__call__(run, title)

    def playbooks(self) -> list[str]:
        """The runs that change something: the look at the new server's room left out."""
        return [run.playbook for run, _ in self.runs if run.playbook != "capacity.yml"]

    def variables_of(self, playbook: str) -> dict:
        return next(run.variables for run, _ in self.runs if run.playbook == playbook)


def yes(question: str) -> bool:
    return True


def session_for(home, playbooks, **lookups):
    lookups.setdefault("local_images", fake_local_images([IMAGE, "redis:8"]))
    return make_session(home, playbooks, saved=(OLD, NEW), **lookups)


def move(session, confirm=yes, **options):
    options = {"dns_host": "example.org", "tls": "internal"} | options
    return commands.move(session, "exp1", OLD, NEW, confirm=confirm, **options)


def test_the_settings_are_read_back_into_the_roles_variables(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(compose_settings()))
    app = moving.read_settings(path, "exp1", OLD)
    assert app.variables == {
        "dallinger_app_image": IMAGE,
        # Compose writes "$" as "$$"; the role writes its own server's keys again.
        "dallinger_app_environment": {
            "mode": "live",
            "dashboard_password": "pw-1",
            "tricky": "costs $5, not $$HOME",
            "empty": "",
        },
        "dallinger_app_secrets": {"FLASK_SECRET_KEY": "flask-1", "DALLINGER_UID": "uid-1"},
        "dallinger_app_workers": 2,
        "dallinger_app_worker_cpu_shares": 512,
        "dallinger_app_clock": True,
        "dallinger_app_volumes": ["/srv/stimuli:/stimuli:ro"],
        "dallinger_app_psynet": True,
        "dallinger_app_redis_image": "redis:8",
        "dallinger_app_pgbouncer_image": "edoburu/pgbouncer:v1",
    }


def test_an_app_another_tool_deployed_or_unreadable_settings_are_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(compose_settings(pgbouncer={"image": "edoburu/pgbouncer:v1"})))
    with pytest.raises(DlgrError, match="deploy --update --app exp1"):
        moving.read_settings(path, "exp1", OLD)
    path.write_text("{}")
    with pytest.raises(DlgrError, match="could not be read"):
        moving.read_settings(path, "exp1", OLD)


def test_rows_must_match_table_by_table():
    assert moving.check_rows("exp1", ROWS, dict(ROWS), (OLD, NEW)) == 5
    copy = {
        "public.participant": {"rows": 3, "sum": "7"},
        "public.node": {"rows": 0, "sum": "0"},
    }
    with pytest.raises(DlgrError) as raised:
        moving.check_rows("exp1", ROWS, copy, (OLD, NEW))
    assert str(raised.value) == (
        f"The copy of exp1 on {NEW} differs from the app on {OLD}: public.info missing on "
        f"{NEW}, public.node only on {NEW}, public.participant as many rows (3), other contents."
    )
    with pytest.raises(DlgrError, match=r"public.info 2 rows -> 1\."):
        moving.check_rows(
            "exp1", ROWS, ROWS | {"public.info": {"rows": 1, "sum": "40"}}, (OLD, NEW)
        )
    with pytest.raises(DlgrError, match=f"on {NEW} were not counted"):
        moving.check_rows("exp1", ROWS, None, (OLD, NEW))


def test_only_an_archive_with_something_in_it_is_unpacked(tmp_path):
    empty, full, broken = tmp_path / "e.tar.gz", tmp_path / "f.tar.gz", tmp_path / "b.tar.gz"
    write_tar(empty, {})
    write_tar(full, {"exp1/a": b"a"})
    broken.write_bytes(b"not a tar")
    assert moving.archive_to_unpack(empty, "exp1/") == ""
    assert moving.archive_to_unpack(tmp_path / "absent.tar.gz", "exp1/") == ""
    assert moving.archive_to_unpack(full, "exp1/") == str(full)
    with pytest.raises(DlgrError, match="not readable"):
        moving.archive_to_unpack(broken, "exp1/")


@pytest.mark.parametrize("name", ["exp2/a", "exp1/../exp2/a", "/etc/cron.d/x", "exp1x/a"])
def test_an_archive_that_reaches_outside_its_folder_is_refused(tmp_path, name):
    archive = tmp_path / "f.tar.gz"
    write_tar(archive, {"exp1/a": b"a", name: b"b"})
    with pytest.raises(DlgrError, match="nothing was moved"):
        moving.archive_to_unpack(archive, "exp1/")


def test_an_archive_with_a_link_is_refused(tmp_path):
    archive = tmp_path / "f.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        link = tarfile.TarInfo("cached/x")
        link.type, link.linkname = tarfile.SYMTYPE, "/home/u/dallinger-data"
        handle.addfile(link)
    with pytest.raises(DlgrError, match="not a file or folder"):
        moving.archive_to_unpack(archive, "experiments/", "cached/")


def test_a_move_deploys_the_copy_from_the_backup_and_leaves_the_old_app_stopped(home):
    playbooks = FakeMove()
    asked = []
    report = move(session_for(home, playbooks), confirm=lambda q: asked.append(q) or True)
    assert playbooks.playbooks() == ["move_out.yml", "deploy.yml"]
    assert len(asked) == 1
    assert f"stops on {OLD} now" in asked[0]
    out = playbooks.variables_of("move_out.yml")
    assert out["dallinger_app_name"] == "exp1"
    # The settings (the app's secrets) were read from a private folder, gone now.
    assert not Path(out["dlgr_move_settings"]).parent.exists()
    backup = Path(out["dallinger_export_dest"])
    deployed = playbooks.variables_of("deploy.yml")
    assert {
        key: deployed[key]
        for key in (
            "dallinger_app_expect",
            "dallinger_app_launch",
            "dlgr_count_rows",
            "dallinger_app_restore_dump",
            "dallinger_app_restore_files",
            "dallinger_app_restore_assets",
            "dallinger_app_secrets",
            "dallinger_app_dns_host",
            "dallinger_app_images_from_controller",
            "dallinger_app_restore_rows",
        )
    } == {
        "dallinger_app_expect": "new",
        "dallinger_app_launch": False,
        "dlgr_count_rows": True,
        "dallinger_app_restore_dump": str(moving.parts(backup)["dump"]),
        "dallinger_app_restore_files": str(moving.parts(backup)["files"]),
        "dallinger_app_restore_assets": "",
        "dallinger_app_secrets": {"FLASK_SECRET_KEY": "flask-1", "DALLINGER_UID": "uid-1"},
        "dallinger_app_dns_host": "example.org",
        "dallinger_app_images_from_controller": [IMAGE, "redis:8"],
        "dallinger_app_restore_rows": ROWS,
    }
    assert deployed["dallinger_app_environment"]["tricky"] == "costs $5, not $$HOME"
    assert "dlgr_placement_memory_per_app_gb" in deployed
    assert local_secrets.read_or_create(NEW, "exp1-dashboard") == "pw-1"
    document = report.to_json()
    assert document["moved"] == "exp1"
    assert document["rows"] == 5
    assert document["removed"] is False
    assert document["app"]["url"] == "https://exp1.example.org/"
    assert "pw-1" not in json.dumps(document)


def test_the_old_app_is_removed_only_after_a_second_yes(home):
    playbooks = FakeMove()
    answers = iter([True, False])
    report = move(session_for(home, playbooks), confirm=lambda q: next(answers), remove_source=True)
    assert playbooks.playbooks() == ["move_out.yml", "deploy.yml"]
    assert report.removed is False

    playbooks = FakeMove()
    asked = []
    report = move(
        session_for(home, playbooks), confirm=lambda q: asked.append(q) or True, remove_source=True
    )
    assert playbooks.playbooks() == ["move_out.yml", "deploy.yml", "destroy.yml"]
    assert f"Remove it from {OLD}" in asked[1]
    assert "with all its 5 rows" in asked[1]
    assert playbooks.variables_of("destroy.yml")["dallinger_destroy_backup"] is False
    assert report.removed is True


def test_a_move_that_fails_on_the_new_server_starts_the_old_app_again(home):
    playbooks = FakeMove(failing={"deploy.yml"})
    report = move(session_for(home, playbooks), remove_source=True)
    assert playbooks.playbooks() == ["move_out.yml", "deploy.yml", "start.yml"]
    assert not report.ok
    assert report.started_again is True
    # The new server does not have it: a password saved for an app of that name stays.
    assert not local_secrets.secret_path(NEW, "exp1-dashboard").exists()


def test_a_copy_with_other_row_counts_is_not_trusted(home):
    playbooks = FakeMove(new_rows={"public.participant": ROWS["public.participant"]})
    with pytest.raises(DlgrError, match=r"runs there again\. Remove the copy"):
        move(session_for(home, playbooks), remove_source=True)
    assert playbooks.playbooks() == ["move_out.yml", "deploy.yml", "start.yml"]


def test_an_app_that_was_not_stopped_is_not_started(home):
    playbooks = FakeMove(failing={"move_out.yml"}, stopped=False)
    report = move(session_for(home, playbooks))
    assert playbooks.playbooks() == ["move_out.yml"]
    assert report.started_again is False


def test_nothing_changes_when_a_check_or_the_first_question_says_no(home):
    playbooks = FakeMove()
    session = session_for(home, playbooks)
    with pytest.raises(ValidationError, match="the server it is on"):
        commands.move(session, "exp1", OLD, OLD, dns_host="example.org", confirm=yes)
    with pytest.raises(ValidationError, match="--to"):
        commands.move(session, "exp1", OLD, None, confirm=yes)
    with pytest.raises(DlgrError, match="does not resolve"):
        move(session_for(home, playbooks, resolve=fake_resolve_nothing))
    assert playbooks.runs == []
    with pytest.raises(DlgrError, match="was not moved"):
        move(session, confirm=lambda q: False)
    assert playbooks.playbooks() == []  # only the look at the new server's room


def test_an_image_this_machine_lacks_is_copied_from_the_old_server(home):
    playbooks = FakeMove()
    copied = []
    session = session_for(home, playbooks, local_images=fake_local_images(["redis:8"]))
    session.copy_image = lambda argv, name: copied.append((argv, name)) or True
    move(session)
    ((argv, name),) = copied
    assert name == IMAGE
    assert argv[-1] == f"docker save {IMAGE}"
    assert OLD in argv


def test_a_problem_found_after_the_stop_starts_the_old_app_again(home):
    ours_not = compose_settings(pgbouncer={"image": "edoburu/pgbouncer:v1"})
    playbooks = FakeMove(settings=ours_not)
    with pytest.raises(
        DlgrError, match=f"Nothing was removed from {OLD}: the app runs there again"
    ):
        move(session_for(home, playbooks))
    assert playbooks.playbooks() == ["move_out.yml", "start.yml"]

    playbooks = FakeMove()
    session = session_for(home, playbooks, local_images=fake_local_images())

    def unreachable(argv, name):
        raise DlgrError(f"{name} could not be copied from its server: ssh ended with 255")

    session.copy_image = unreachable
    with pytest.raises(DlgrError, match="could not be copied"):
        move(session)
    assert playbooks.playbooks() == ["move_out.yml", "start.yml"]


def test_a_new_server_that_does_not_answer_or_is_full_is_found_before_the_app_stops(home):
    playbooks = FakeMove(failing={"capacity.yml"})
    with pytest.raises(DlgrError, match=f"{NEW} could not be checked"):
        move(session_for(home, playbooks))
    assert [run.playbook for run, _ in playbooks.runs] == ["capacity.yml"]

    full = ROOM | {"apps_running": ["a", "b", "c", "d"]}
    playbooks = FakeMove(room=full)
    with pytest.raises(DlgrError, match=r"no room for another app.*--force moves exp1"):
        move(session_for(home, playbooks))
    assert playbooks.playbooks() == []
    # Forced, or where the app is already (a move run again): it goes on.
    for forced, room in ((True, full), (False, full | {"app_exists": True})):
        playbooks = FakeMove(room=room)
        move(session_for(home, playbooks), force=forced)
        assert playbooks.playbooks() == ["move_out.yml", "deploy.yml"]
