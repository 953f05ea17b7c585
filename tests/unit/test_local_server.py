"""The rehearsal server's key and config handling (no Docker involved)."""

import pytest

from dlgr_ansible import local_server, sshkeys
from dlgr_ansible.config import Config, load_config


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_server_pem_a_key_is_made_and_configured(home):
    (home / ".dallingerconfig").write_text("[Parameters]\n# mine\nexperiments = yes\n")
    said = []
    key = local_server.ensure_key(load_config(), said.append)
    assert key == home / ".dallinger" / "dlgr-ansible" / "local" / "id_ed25519"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert sshkeys.check_private_key(key).kind == "ed25519"
    assert sshkeys.public_key_line(key).startswith("ssh-ed25519 ")
    text = (home / ".dallingerconfig").read_text()
    assert text.startswith("[Parameters]\n# mine\nexperiments = yes\n")  # appended, not rewritten
    assert load_config().server_pem() == key
    assert len(said) == 2
    # Configured now: the same key, nothing appended again.
    assert local_server.ensure_key(load_config(), said.append) == key
    assert (home / ".dallingerconfig").read_text() == text


def test_a_configured_key_is_used_as_it_is(home):
    key = home / "mine"
    sshkeys.create_key(key)
    assert local_server.ensure_key(Config({"server_pem": str(key)}), print) == key
    assert not (home / ".dallingerconfig").exists()


def test_a_section_of_ours_without_server_pem_is_not_appended_twice(home):
    (home / ".dallingerconfig").write_text("[dlgr-ansible]\nother = 1\n")
    with pytest.raises(local_server.LocalServerError, match="server_pem = "):
        local_server.ensure_key(load_config(), print)
