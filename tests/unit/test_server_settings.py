"""Server settings (dlgr_ansible.server_settings): saved with the server in the hosts
store, defaults in this tool's own config file, never needed in Dallinger's files; real
files in a temporary HOME. That Dallinger 12.4 itself then loads its config is in
tests/integration/test_servers.py."""

import json

import pytest

from dlgr_ansible import server_settings
from dlgr_ansible.config import load_config
from dlgr_ansible.hosts import HostsProblem, HostsStore, Server
from dlgr_ansible.session import Session


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "exp").mkdir()
    monkeypatch.chdir(tmp_path / "exp")
    return tmp_path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_settings_are_extra_keys_of_the_servers_record(home):
    store = HostsStore(home / "hosts", home / "old")
    settings = {"tls": "internal", "dns_host": "lab.example.org", "docker_dozzle_image": ""}
    store.add(Server(host="lab.example.org", user="ubuntu", settings=settings))
    record = json.loads((home / "hosts" / "lab.example.org").read_text())
    # Dallinger reads "host" and "user" and ignores the rest, as it does "port".
    assert record == {"host": "lab.example.org", "user": "ubuntu"} | settings
    assert store.servers()["lab.example.org"].settings == settings


def test_a_damaged_setting_in_a_record_says_which_file(home):
    store = HostsStore(home / "hosts", home / "old")
    write(home / "hosts" / "lab.example.org", '{"host": "lab.example.org", "tls": "yes"}')
    with pytest.raises(HostsProblem, match=r"lab.example.org is damaged \(tls is 'yes'"):
        store.servers()


def test_new_settings_are_checked_and_normalised():
    server = Server.new("lab.example.org", "u", 22, {"dns_host": "Lab.Example.org."})
    assert server.settings == {"dns_host": "lab.example.org"}
    for bad, message in [
        ({"tls": "letsencrypt"}, "use 'acme' or 'internal'"),
        ({"acme_email": "lab at example.org"}, "acme_email is 'lab at example.org'"),
        ({"docker_redis_image": "Redis Latest"}, "not a valid Docker image"),
        ({"dns_host": "-bad-"}, "not a valid DNS host"),
    ]:
        with pytest.raises(server_settings.SettingsProblem, match=message):
            Server.new("lab.example.org", "u", 22, bad)


def test_later_layers_win_and_settings_in_dallingers_files_are_named(home):
    dallinger = write(home / ".dallingerconfig", "[Parameters]\nserver_pem = ~/k\ntls = acme\n")
    write(home / server_settings.OWN_CONFIG, "[x]\ntls = internal\ndns_host = a.example.org\n")
    saved = {"dns_host": "b.example.org"}
    config = load_config(saved_settings=saved)
    assert (config.get("tls"), config.get("dns_host")) == ("internal", "b.example.org")
    assert config.misplaced == ((dallinger, ("tls",)),)
    assert config.sources == (dallinger, home / server_settings.OWN_CONFIG)
    overridden = load_config(saved_settings=saved, overrides=[("dns_host", "c.example.org")])
    assert overridden.get("dns_host") == "c.example.org"


def test_the_warning_says_where_and_what_to_do(home):
    experiment = home / "exp" / "config.txt"
    warning = server_settings.in_dallinger_files(
        [(home / ".dallingerconfig", ["tls", "dns_host"]), (experiment, ["docker_redis_image"])]
    )
    assert f"dns_host, tls in {home}/.dallingerconfig" in warning
    assert f"docker_redis_image in {experiment}" in warning
    assert "servers set --dns-host VALUE --tls VALUE --redis-image VALUE" in warning
    assert "Dallinger 12.4 refuses" in warning
    assert server_settings.in_dallinger_files([(experiment, [])]) is None


def test_the_own_file_holds_server_settings_only(home):
    own = write(home / server_settings.OWN_CONFIG, "[x]\nrecruiter = hotair\n")
    with pytest.raises(server_settings.SettingsProblem, match="recruiter is not a server setting"):
        load_config()
    own.write_text("[x]\ntls = maybe\n")
    with pytest.raises(server_settings.SettingsProblem, match=f"{own}: tls is 'maybe'"):
        load_config()


def test_a_session_warns_once_about_settings_in_dallingers_files(home):
    write(home / ".dallingerconfig", "[Parameters]\ndocker_engine_source = distribution\n")
    said = []
    session = Session(warn=said.append)
    session.config()
    session.config(server=Server(host="h.example.org", settings={"tls": "internal"}))
    assert len(said) == 1
    assert "docker_engine_source" in said[0]
    assert "--docker-source VALUE" in said[0]
    assert session.config(server=Server(host="h", settings={"tls": "internal"})).get("tls") == (
        "internal"
    )


def test_every_setting_has_an_option_and_a_check():
    options = [setting.option for setting in server_settings.SETTINGS]
    assert len(set(options)) == len(options)
    assert "--postgresql-image" in options
    assert {"dns_host", "tls", "acme_email", "docker_engine_source"} <= server_settings.KEYS
