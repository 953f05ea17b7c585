"""Files this tool writes on the researcher's machine: atomic writes, the Dozzle password
offered to a server, the one table of service images."""

import stat

import pytest

from dlgr_ansible import deploy, dozzle, provision, service_images
from dlgr_ansible.files import write_atomically


def test_an_atomic_write_replaces_with_the_mode_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "dir" / "file"
    target.parent.mkdir()
    write_atomically(target, "one", 0o644)
    write_atomically(target, "two", 0o600)
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["file"]
    write_atomically(target, "three", 0o644, scratch_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomically(target, None, 0o644)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_an_offered_dozzle_password_is_forgotten_when_the_server_keeps_its_own(home):
    login = dozzle.DozzleLogin.offered("h.org")
    assert login.new
    assert dozzle.read_saved("h.org") == login.password
    kept = {dozzle.OFFER_TAKEN_KEY: {"h.org": False}}
    assert dozzle.offer_outcome(kept, "h.org", True, login) is None
    assert dozzle.read_saved("h.org") is None
    again = dozzle.DozzleLogin.offered("h.org")
    taken = {dozzle.OFFER_TAKEN_KEY: {"h.org": True}}
    assert dozzle.offer_outcome(taken, "h.org", True, again) == {
        "user": "dallinger",
        "password": again.password,
        "saved_in": str(again.saved_in),
    }
    # Offered before and not new now: kept even when this server did not take it.
    known = dozzle.DozzleLogin.offered("h.org")
    assert not known.new
    assert dozzle.offer_outcome(kept, "h.org", True, known) is None
    assert dozzle.read_saved("h.org") == again.password


def test_one_table_of_service_images_feeds_both_roles_and_stays_out_of_the_app():
    server = service_images.of_role("dallinger_server")
    app = service_images.of_role("dallinger_app")
    assert server == provision.IMAGE_KEYS
    assert app == deploy.IMAGE_KEYS
    assert set(server) | set(app) == service_images.CONFIG_KEYS
    assert service_images.CONFIG_KEYS <= deploy.NOT_FOR_THE_APP
    for image in service_images.SERVICE_IMAGES:
        assert image.variable.startswith(image.role + "_")
