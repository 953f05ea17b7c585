import stat

from dlgr_ansible.local_secrets import read_or_create, secret_path


def test_created_private_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    first = read_or_create("Exp.Example.org", "dozzle-password")
    path = secret_path("exp.example.org", "dozzle-password")
    assert path == tmp_path / ".dallinger" / "dlgr-ansible" / "exp.example.org" / "dozzle-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first) >= 16
    assert read_or_create("exp.example.org", "dozzle-password") == first
    assert [p.name for p in path.parent.iterdir()] == ["dozzle-password"]
