"""The CLI's error paths that end before anything connects to a server, with fake DNS
and Docker lookups (tests/unit/fakes.py)."""

import json
import sys

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dlgr_ansible.cli import cli
from tests.unit.fakes import fake_app


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_key(home, mode=0o600):
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path = home / "id_test"
    path.write_bytes(key)
    path.chmod(mode)
    (home / ".dallingerconfig").write_text(f"[Parameters]\nserver_pem = {path}\n")
    return path


def invoke(*args):
    return CliRunner().invoke(cli, list(args), obj=fake_app())


def assert_clean_error(result, text):
    assert result.exit_code != 0
    assert text in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--host", "bad host;id", "--user", "u"], "not a valid server host"),
        (["--host", "h.org", "--user", "root;id"], "not a valid user name"),
        (["--host", "h.org", "--user", "u", "--port", "70000"], "a number from 1 to 65535"),
    ],
)
def test_servers_add_rejects_bad_input(home, args, text):
    write_key(home)
    assert_clean_error(invoke("servers", "add", *args), text)
    assert not (home / ".dallinger").exists()  # nothing saved


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--tls", "letsencrypt"], "'letsencrypt' is not one of 'acme', 'internal'"),
        (["--dns-host", "a b"], "not a valid DNS host"),
        (["--redis-image", "Redis Latest"], "not a valid Docker image"),
        (["--acme-email", "nobody"], "acme_email is 'nobody'"),
    ],
)
def test_servers_add_rejects_bad_settings_before_it_connects(home, args, text):
    write_key(home)
    assert_clean_error(invoke("servers", "add", "--host", "h.org", "--user", "u", *args), text)
    assert not (home / ".dallinger" / "docker-ssh").exists()  # nothing saved


def test_servers_set_saves_settings_that_list_shows(home):
    hosts = home / ".dallinger" / "docker-ssh" / "hosts"
    hosts.mkdir(parents=True)
    (hosts / "h.org").write_text('{"host": "h.org", "user": "u"}')
    result = invoke("servers", "set", "--tls", "internal", "--dozzle-image", "")
    assert result.exit_code == 0, result.output
    assert "Settings of h.org: tls = internal, docker_dozzle_image = ." in result.output
    listed = invoke("servers", "list", "--json")
    assert json.loads(listed.output)["h.org"]["tls"] == "internal"
    assert_clean_error(invoke("servers", "set", "--unset", "mode"), "not a server setting")


def test_servers_add_without_server_pem(home):
    assert_clean_error(invoke("servers", "add", "--host", "h.org", "--user", "u"), "server_pem")


def test_servers_add_with_world_readable_key(home):
    path = write_key(home, mode=0o644)
    assert_clean_error(
        invoke("servers", "add", "--host", "h.org", "--user", "u"), f"chmod 600 {path}"
    )


def test_servers_list_empty_and_json(home):
    result = invoke("servers", "list")
    assert result.exit_code == 0
    assert "No server saved" in result.output
    store = home / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    (store / "h.org").write_text(json.dumps({"host": "h.org", "user": "u"}))
    result = invoke("servers", "list", "--json")
    assert json.loads(result.output) == {"h.org": {"host": "h.org", "user": "u", "port": 22}}


def test_servers_remove_unknown_and_known(home):
    assert_clean_error(invoke("servers", "remove", "--host", "h.org"), "Unknown server 'h.org'")
    store = home / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    (store / "h.org").write_text(json.dumps({"host": "h.org", "user": "u"}))
    (store / "i.org").write_text(json.dumps({"host": "i.org", "user": "u"}))
    assert_clean_error(invoke("servers", "remove"), "choose one with --server")
    assert invoke("servers", "remove", "--host", "h.org").exit_code == 0
    assert not (store / "h.org").exists()


def test_check_with_several_servers_and_no_tty_names_choices(home):
    write_key(home)
    store = home / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    for name in ("a.org", "b.org"):
        (store / name).write_text(json.dumps({"host": name, "user": "u"}))
    assert_clean_error(invoke("servers", "check"), "Saved servers: a.org, b.org")


def test_inventory_to_file(home):
    key = write_key(home)
    store = home / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    (store / "h.org").write_text(json.dumps({"host": "h.org", "user": "u"}))
    result = invoke("inventory", "--output", str(home / "inv.yml"))
    assert result.exit_code == 0, result.output
    text = (home / "inv.yml").read_text()
    assert str(key) in text
    assert '"h.org":' in text


@pytest.mark.parametrize(
    "command",
    [
        ["deploy"],
        ["sandbox"],
        ["apps"],
        ["stats"],
        ["logs"],
        ["export"],
        ["destroy"],
        ["set-dozzle-password"],
        ["db-connections"],
    ],
)
def test_app_commands_say_what_they_do_and_fail_cleanly_without_a_server(home, command):
    helped = invoke(*command, "--help")
    assert helped.exit_code == 0
    assert len(helped.output.splitlines()) > 3
    result = invoke(*command, "--app", "a1") if "--app" in helped.output else invoke(*command)
    assert_clean_error(result, "Error: ")
    assert "Traceback" not in result.output


def _saved_server(home):
    store = home / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    (store / "h.org").write_text(json.dumps({"host": "h.org", "user": "u"}))


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--tls", "acme"], "contact_email_on_error"),
        (["--tls", "internal", "--dns-host", "bad host"], "not a valid DNS host"),
        (["--tls", "internal", "-c", "docker_caddy_image", "Caddy:2"], "valid Docker image"),
        (["--tls", "internal", "--docker-source", "snap"], "Invalid value for '--docker-source'"),
        (["--tls", "internal", "-c", "docker_engine_source", "snap"], "'official'"),
    ],
)
def test_provision_rejects_bad_settings_before_connecting(home, args, text):
    write_key(home)
    _saved_server(home)
    assert_clean_error(invoke("provision", *args), text)


@pytest.mark.parametrize(
    ("image", "text"),
    [
        ("Not An Image", "valid Docker image"),
        ("dlgr-test/never-built:x", "not in your local Docker"),
    ],
)
def test_images_push_needs_a_local_valid_image(home, image, text):
    write_key(home)
    _saved_server(home)
    assert_clean_error(invoke("images", "push", image), text)


@pytest.mark.parametrize(
    ("files", "text"),
    [
        ({}, "run deploy in the experiment's directory"),
        ({"experiment.py": "", "config.txt": "[x]\n"}, "Set docker_image_base_name"),
        (
            {"experiment.py": "", "config.txt": "[x]\ndocker_image_base_name = lab/x:1\n"},
            "leave out the tag",
        ),
        (
            {"experiment.py": "", "config.txt": "[x]\ndocker_image_base_name = lab/x\n"},
            "pip install 'dlgr-ansible[dallinger]'",
        ),
    ],
)
def test_deploy_without_an_image_builds_only_an_experiment_directory(
    home, tmp_path, monkeypatch, files, text
):
    write_key(home)
    _saved_server(home)
    here = tmp_path / "experiment"
    here.mkdir()
    for name, content in files.items():
        (here / name).write_text(content)
    monkeypatch.chdir(here)
    monkeypatch.setitem(sys.modules, "dallinger", None)  # as without the extra
    result = invoke("sandbox", "--app", "a1", "--dns-host", "localhost")
    assert_clean_error(result, text)


def test_a_deploy_refused_after_planning_leaves_no_dashboard_password(home):
    """Let's Encrypt without a contact address is found after the plan: still nothing saved."""
    write_key(home)
    _saved_server(home)
    result = invoke("deploy", "--app", "a1", "--image", "lab/exp:1", "--dns-host", "example.org")
    assert_clean_error(result, "contact_email_on_error")
    assert not (home / ".dallinger" / "dlgr-ansible").exists()
