import json

import pytest

from dlgr_ansible.hosts import HostsProblem, HostsStore, Server, ServerChoiceNeeded


@pytest.fixture
def store(tmp_path):
    return HostsStore(new_dir=tmp_path / "new", old_dir=tmp_path / "old")


def test_written_exactly_as_dallinger_writes_it(store):
    path = store.add(Server("exp.example.org", "ubuntu"))
    assert path == store.new_dir / "exp.example.org"
    assert json.loads(path.read_text()) == {"host": "exp.example.org", "user": "ubuntu"}
    assert list(store.new_dir.iterdir()) == [path]  # no temp file left behind


def test_non_default_port_is_an_extra_key(store):
    path = store.add(Server("h.org", "u", 2222))
    assert json.loads(path.read_text()) == {"host": "h.org", "user": "u", "port": 2222}
    assert store.servers()["h.org"].port == 2222


def test_reads_both_locations_new_wins(store):
    store.old_dir.mkdir(parents=True)
    (store.old_dir / "old.org").write_text(json.dumps({"host": "old.org", "user": "a"}))
    (store.old_dir / "both.org").write_text(json.dumps({"host": "both.org", "user": "old"}))
    store.add(Server("both.org", "new"))
    servers = store.servers()
    assert set(servers) == {"old.org", "both.org"}
    assert servers["both.org"].user == "new"
    assert not (store.new_dir / "old.org").exists()  # reading never writes


def test_dallinger_null_user(store):
    store.new_dir.mkdir(parents=True)
    (store.new_dir / "h.org").write_text(json.dumps({"host": "h.org", "user": None}))
    assert store.servers()["h.org"] == Server("h.org", None, 22)


def test_remove_from_both_locations(store):
    store.old_dir.mkdir(parents=True)
    (store.old_dir / "h.org").write_text(json.dumps({"host": "h.org", "user": "a"}))
    store.add(Server("h.org", "a"))
    assert store.remove("h.org") is True
    assert store.servers() == {}
    assert store.remove("h.org") is False


def test_resolve(store):
    with pytest.raises(HostsProblem, match="No server saved"):
        store.resolve(None)
    store.add(Server("a.org", "u"))
    assert store.resolve(None).host == "a.org"
    store.add(Server("b.org", "u"))
    with pytest.raises(ServerChoiceNeeded, match=r"a\.org, b\.org") as info:
        store.resolve(None)
    assert info.value.choices == ["a.org", "b.org"]
    assert store.resolve("b.org").host == "b.org"
    with pytest.raises(
        HostsProblem, match=r"Unknown server 'c\.org'\. Saved servers: a\.org, b\.org"
    ):
        store.resolve("c.org")


def test_damaged_file(store):
    store.new_dir.mkdir(parents=True)
    (store.new_dir / "h.org").write_text("{not json")
    with pytest.raises(HostsProblem, match="damaged"):
        store.servers()
    (store.new_dir / "h.org").write_text(json.dumps({"host": "bad host;", "user": "u"}))
    with pytest.raises(HostsProblem, match="damaged"):
        store.servers()


def test_default_locations_follow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    default = HostsStore.default()
    assert default.new_dir == tmp_path / ".dallinger" / "docker-ssh" / "hosts"
    assert default.old_dir == tmp_path / ".local" / "share" / "dallinger" / "hosts"


def test_a_named_server_keeps_its_address_and_https_port(store):
    local = Server("local", "dallinger", 2222, https_port=8443, address="localhost")
    path = store.add(local)
    assert json.loads(path.read_text()) == {
        "host": "local",
        "user": "dallinger",
        "port": 2222,
        "https_port": 8443,
        "address": "localhost",
    }
    assert store.resolve("local") == local
    assert local.ssh_host == "localhost"
    assert Server("h.org").ssh_host == "h.org"
