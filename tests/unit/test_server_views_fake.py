"""The server views' library modules fed with hand-written (fake) playbook reports shaped like the real ones.

Also the ssh command line of `--follow`, the checks made before connecting, and the
CLI's error paths that end before anything connects (no server, no playbook run).
"""

import io
import json
import shlex
import subprocess

import bcrypt
import pytest
from click.testing import CliRunner
from rich.console import Console

from dlgr_ansible import (
    app_logs,
    container_stats,
    db_connections,
    dozzle,
    server_apps,
    ssh,
    validate,
)
from dlgr_ansible.cli import cli, tables
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import Server
from dlgr_ansible.validate import ValidationError
from tests.unit.fakes import fake_app

HOME = "/home/dallinger/dallinger"

# What apps.yml hands back for one server: demo1 up, old stopped, site-only and
# compose-only apps, and the shared stack (which is no app).
FAKE_APPS_REPORT = {
    "sites": [
        f"{HOME}/caddy.d/demo1\tdemo1.example.org {{",
        f"{HOME}/caddy.d/old\told.example.org, www.old.example.org {{",
        f"{HOME}/caddy.d/siteonly\thttp://siteonly.example.org {{",
    ],
    "compose_files": [f"{HOME}/demo1/docker-compose.yml", f"{HOME}/old/docker-compose.yml"],
    "compose_images": {"demo1": "lab/demo:1", "old": "lab/old:3"},
    "containers": [
        "demo1\tweb\trunning\tlab/demo:2",
        "demo1\tredis\trunning\tredis",
        "old\tweb\texited\tlab/old:2",
        "dallinger\tpostgresql\trunning\tpostgres:12",
        "garbage line",
    ],
}


def render(table) -> str:
    console = Console(file=io.StringIO(), width=200)
    console.print(table)
    return console.file.getvalue()


def test_apps_running_first_with_url_and_image():
    found = server_apps.apps_from_server(FAKE_APPS_REPORT, server="lab1")
    assert [a.to_json() for a in found] == [
        {
            "name": "demo1",
            "state": "running",
            "url": "https://demo1.example.org/",
            "image": "lab/demo:2",  # what runs, not what the compose file says
            "server": "lab1",
        },
        {
            "name": "old",
            "state": "inactive",
            "url": "https://old.example.org/",
            "image": "lab/old:2",
            "server": "lab1",
        },
        {
            "name": "siteonly",
            "state": "inactive",
            "url": "http://siteonly.example.org/",
            "image": "-",
            "server": "lab1",
        },
    ]
    text = render(tables.apps_table(found))
    assert "demo1" in text
    assert "siteonly" in text


def test_apps_image_from_compose_file_without_containers():
    report = dict(FAKE_APPS_REPORT, containers=[])
    found = {a.name: a for a in server_apps.apps_from_server(report)}
    assert found["old"].image == "lab/old:3"
    assert {a.state for a in found.values()} == {"inactive"}


@pytest.mark.parametrize("state", ["running", "restarting", "paused"])
def test_apps_running_as_docker_ps_lists_it(state):
    report = {
        "compose_files": [f"{HOME}/a/docker-compose.yml"],
        "containers": [f"a\tworker_1\t{state}\tx"],
    }
    (found,) = server_apps.apps_from_server(report)
    assert (found.state, found.url, found.image) == ("running", "-", "-")


def test_apps_with_an_empty_site_file():
    (found,) = server_apps.apps_from_server({"site_files": [f"{HOME}/caddy.d/empty"]})
    assert (found.name, found.url) == ("empty", "-")


def test_apps_leave_out_hidden_and_backup_files():
    report = {"sites": [f"{HOME}/caddy.d/.swp\tx {{", f"{HOME}/caddy.d/a~\ta {{"]}
    assert server_apps.apps_from_server(report) == []
    assert server_apps.apps_from_server({}) == []


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("demo1.stack.test {", "https://demo1.stack.test/"),
        ("  demo1.stack.test{", "https://demo1.stack.test/"),
        ("a.org:8443 {", "https://a.org:8443/"),
        ("https://a.org {", "https://a.org/"),
        ("", "-"),
        ("{", "-"),
        ("# comment", "-"),
    ],
)
def test_site_url(line, url):
    assert server_apps.site_url(line) == url


def test_stats_rows_from_docker_json():
    lines = [
        json.dumps(
            {
                "BlockIO": "0B / 0B",
                "CPUPerc": "0.10%",
                "Container": "abc",
                "ID": "abc",
                "MemPerc": "1.00%",
                "MemUsage": "10MiB / 1GiB",
                "Name": "web",
                "NetIO": "1kB / 2kB",
                "PIDs": "3",
            }
        ),
        "not json",
        json.dumps({"Name": "a-first"}),
    ]
    rows = container_stats.parse_stats(lines)
    assert [row["name"] for row in rows] == ["a-first", "web"]
    assert rows[1] == {
        "name": "web",
        "cpu": "0.10%",
        "memory": "10MiB / 1GiB",
        "memory_percent": "1.00%",
        "net_io": "1kB / 2kB",
        "block_io": "0B / 0B",
        "pids": "3",
    }
    assert "10MiB / 1GiB" in render(tables.stats_table(rows))


def test_db_connections_report():
    data = {"report": {"max_connections": 100, "databases": {"demo": 3, "dallinger": 1}}}
    report = db_connections.db_connections_from_server(data)
    assert report == {
        "max_connections": 100,
        "total": 4,
        "databases": {"dallinger": 1, "demo": 3},
    }
    text = render(tables.db_connections_table(report))
    assert "4 of 100" in text
    assert db_connections.db_connections_from_server({"report": '{"databases": {}}'})["total"] == 0


def test_a_database_near_its_limit_names_the_busiest_app_and_what_to_run():
    calm = {"max_connections": 100, "total": 79, "databases": {"demo": 70, "other": 9}}
    assert db_connections.near_limit_note(calm) is None
    busy = calm | {"total": 85, "databases": {"demo": 70, "other": 15}}
    note = db_connections.near_limit_note(busy)
    assert "85 of 100" in note
    assert "`dlgr-ansible restart --app demo`" in note
    assert "`dlgr-ansible shell --app demo`" in note


@pytest.mark.parametrize("name", ["web", "worker_1", "clock", "pgbouncer", "a.b-c"])
def test_service_names(name):
    assert validate.service_name(name) == name


@pytest.mark.parametrize("name", ["", "Web", "-web", "web;rm -rf ~", "a b", "x" * 64, "../web"])
def test_bad_service_names(name):
    with pytest.raises(ValidationError, match="not a valid service name"):
        validate.service_name(name)


def test_logs_variables_check_everything():
    assert app_logs.logs_variables("demo1", "web", None) == {
        "dlgr_app": "demo1",
        "dlgr_service": "web",
    }
    assert app_logs.logs_variables("demo1", "worker_1", 0)["dlgr_tail"] == 0
    with pytest.raises(ValidationError, match="app name"):
        app_logs.logs_variables("Demo_1", "web", None)
    with pytest.raises(ValidationError, match="--tail"):
        app_logs.logs_variables("demo1", "web", -1)


def test_logs_commands():
    assert app_logs.logs_command("demo1", "web", 5, follow=False) == [
        "docker",
        "compose",
        "-f",
        "dallinger/demo1/docker-compose.yml",
        "logs",
        "--no-color",
        "--tail",
        "5",
        "web",
    ]
    follow = app_logs.logs_follow_command("demo1", "web", None)
    assert follow[-3:] == ["--no-color", "--follow", "web"]


def test_logs_follow_command_runs_in_a_shell(tmp_path):
    """The follow command, as the remote login shell gets it, checks the app first."""
    remote = shlex.join(app_logs.logs_follow_command("demo1", "web", 2))
    echoed = run_as_the_remote_shell(tmp_path, remote)
    assert echoed == app_logs.logs_command("demo1", "web", 2, True)[1:]


def run_as_the_remote_shell(home, remote: str) -> list[str]:
    """`remote` in sh in `home`: first with no app (it must say so by its exit code), then
    with app demo1 and a fake docker that prints its arguments, one per line."""
    missing = subprocess.run(["sh", "-c", remote], cwd=home, check=False)
    assert missing.returncode == app_logs.APP_MISSING_EXIT
    (home / "dallinger" / "demo1").mkdir(parents=True)
    (home / "dallinger" / "demo1" / "docker-compose.yml").write_text("name: demo1\n")
    fake_bin = home / "bin"
    fake_bin.mkdir()
    (fake_bin / "docker").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (fake_bin / "docker").chmod(0o755)
    return subprocess.run(
        ["sh", "-c", f"PATH={fake_bin}:$PATH; {remote}"],
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


@pytest.mark.parametrize(
    ("command", "tty", "expected"),
    [
        (["ls", "-la", "a b"], False, ["exec", "-T", "worker_1", "ls", "-la", "a b"]),
        ([], True, ["exec", "worker_1", "sh", "-c"]),
    ],
)
def test_shell_commands_reach_docker_compose_word_for_word(tmp_path, command, tty, expected):
    """As the remote login shell gets it: the app is checked, then compose exec gets each
    word as one argument (with a fake docker that prints its arguments)."""
    remote = shlex.join(app_logs.shell_command("demo1", "worker_1", command, tty))
    echoed = run_as_the_remote_shell(tmp_path, remote)
    assert echoed[:3] == ["compose", "-f", "dallinger/demo1/docker-compose.yml"]
    assert echoed[3 : 3 + len(expected)] == expected


@pytest.mark.parametrize(
    ("arguments", "tty", "expected"),
    [
        (["-c", "select 'a b'"], False, ["exec", "-i", "dallinger-postgresql-1"]),
        ([], True, ["exec", "-i", "-t", "dallinger-postgresql-1"]),
    ],
)
def test_psql_reaches_the_apps_database_as_its_role_word_for_word(
    tmp_path, arguments, tty, expected
):
    remote = shlex.join(app_logs.psql_command("demo1", arguments, tty))
    echoed = run_as_the_remote_shell(tmp_path, remote)
    assert echoed == [*expected, "psql", "-U", "demo1", "-d", "demo1", *arguments]


def test_ssh_argv_has_the_inventory_options(tmp_path):
    key = tmp_path / "my key"
    known = tmp_path / "known hosts"
    server = Server(host="h.example.org", user="dallinger", port=2222)
    argv = ssh.ssh_argv(server, key, ["docker", "stats"], known_hosts=known)
    assert argv[0] == "ssh"
    assert argv[-3:] == ["--", "h.example.org", "docker stats"]
    options = " ".join(argv)
    for option in (
        "StrictHostKeyChecking=accept-new",
        "IdentitiesOnly=yes",
        "ServerAliveInterval=15",
        "BatchMode=yes",
    ):
        assert option in options
    assert f"UserKnownHostsFile={known}" in argv  # one argument, space and all
    assert argv[argv.index("-i") + 1] == str(key)
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-l") + 1] == "dallinger"
    assert "-t" not in argv
    assert "-t" in ssh.ssh_argv(server, key, ["x"], tty=True, known_hosts=known)
    no_user = ssh.ssh_argv(Server(host="h"), key, ["x"], known_hosts=known)
    assert "-l" not in no_user


def test_ssh_remote_command_quoting():
    nasty = ["printf", "%s|", "a b", "$HOME", "it's", "; rm -rf ~"]
    argv = ssh.ssh_argv(Server(host="h"), "k", nasty)
    # The remote login shell splits the one string back into exactly these words.
    assert shlex.split(argv[-1]) == nasty
    out = subprocess.run(["sh", "-c", argv[-1]], capture_output=True, text=True, check=True)
    assert out.stdout == "a b|$HOME|it's|; rm -rf ~|"


def test_dozzle_password_hash_and_variables():
    new = dozzle.DozzleLogin.chosen("h.org", "s3cret pass")
    assert bcrypt.checkpw(b"s3cret pass", new.password_hash.encode())
    assert new.variables() == {
        "dlgr_dozzle_password": "s3cret pass",
        "dlgr_dozzle_password_hash": new.password_hash,
    }


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "x" * 73])
def test_dozzle_password_rejects(bad):
    with pytest.raises(DlgrError):
        dozzle.DozzleLogin.chosen("h.org", bad)


def test_secret_saved_private_overwritten_and_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert dozzle.read_saved("h.org") is None
    path = dozzle.save("h.org", "one")
    assert path == tmp_path / ".dallinger" / "dlgr-ansible" / "h.org" / "dozzle-password"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    dozzle.save("h.org", "two")
    assert dozzle.read_saved("h.org") == "two"
    dozzle.save("h.org", None)
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == []  # no temporary file left


# -- CLI paths that end before connecting --------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    key = tmp_path / "id_test"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (tmp_path / ".dallingerconfig").write_text(f"[Parameters]\nserver_pem = {key}\n")
    store = tmp_path / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    (store / "h.org").write_text(json.dumps({"host": "h.org", "user": "u"}))
    return tmp_path


def invoke(*args, stdin=None):
    return CliRunner().invoke(cli, list(args), input=stdin, obj=fake_app())


def assert_clean_error(result, text):
    assert result.exit_code == 1, result.output
    assert text in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["logs"], "--app"),
        (["logs", "--app", "Bad_App"], "not a valid app name"),
        (["logs", "--app", "demo1", "--service", "web;id"], "not a valid service name"),
        (["logs", "--app", "demo1", "--tail", "-3"], "--tail -3"),
        (["stats", "--follow", "--json"], "leave out --json"),
        (["set-dozzle-password"], "give it with --password"),
        (["set-dozzle-password", "--password", ""], "empty"),
    ],
)
def test_cli_checks_before_connecting(home, args, text):
    assert_clean_error(invoke(*args), text)
    # Nothing was saved for a password that never reached a server.
    assert not (home / ".dallinger" / "dlgr-ansible").exists()


def test_site_url_on_a_rehearsal_server_carries_its_https_port():
    assert server_apps.site_url("demo.localhost {", 8443) == "https://demo.localhost:8443/"
    assert server_apps.site_url("demo.localhost {", 443) == "https://demo.localhost/"
