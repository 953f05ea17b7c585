import pytest

from dlgr_ansible.config import ConfigProblem, load_config
from dlgr_ansible.validate import ValidationError


def _files(tmp_path, user_text=None, exp_text=None):
    home, exp = tmp_path / "home", tmp_path / "exp"
    home.mkdir()
    exp.mkdir()
    if user_text is not None:
        (home / ".dallingerconfig").write_text(user_text)
    if exp_text is not None:
        (exp / "config.txt").write_text(exp_text)
    return home, exp


def test_experiment_file_wins_and_keys_from_any_section(tmp_path):
    home, exp = _files(
        tmp_path,
        "[Parameters]\nserver_pem = ~/.ssh/lab\ndashboard_user = alice\n",
        "[Experiment]\nmode = sandbox\n[Server]\ndashboard_user = bob\n",
    )
    config = load_config(home=home, experiment_dir=exp)
    assert config.get("dashboard_user") == "bob"
    assert config.get("mode") == "sandbox"
    assert config.get("SERVER_PEM") == "~/.ssh/lab"
    assert config.sources == (home / ".dallingerconfig", exp / "config.txt")


def test_overrides_win_and_are_validated(tmp_path):
    home, exp = _files(tmp_path, exp_text="[x]\nmode = sandbox\n")
    config = load_config(
        home=home, experiment_dir=exp, overrides=[("MODE", "live"), ("note", "100% $x")]
    )
    assert config.get("mode") == "live"
    assert config.get("note") == "100% $x"  # no interpolation
    with pytest.raises(ValidationError, match="not a valid config key"):
        load_config(home=home, experiment_dir=exp, overrides=[("bad-key", "x")])


def test_server_pem_missing_says_where_to_set_it(tmp_path):
    home, exp = _files(tmp_path)
    with pytest.raises(ConfigProblem, match=r"server_pem = ~/\.ssh/id_ed25519"):
        load_config(home=home, experiment_dir=exp).server_pem()


def test_server_pem_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    home, exp = _files(tmp_path, "[p]\nserver_pem = ~/k\n")
    assert load_config(home=home, experiment_dir=exp).server_pem() == tmp_path / "k"


def test_unreadable_file_is_a_clear_error(tmp_path):
    home, exp = _files(tmp_path, exp_text="no section header\n")
    with pytest.raises(ConfigProblem, match=r"(?s)config.txt.*INI file"):
        load_config(home=home, experiment_dir=exp)
