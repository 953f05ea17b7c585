"""Registry logins for pulled images, from the environment or a prompt (fake prompt, no
server)."""

import os

import pytest

from dlgr_ansible.images import ImageProblem, registry_login, registry_of


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("redis:7", "docker.io"),
        ("lab/exp:1", "docker.io"),
        ("ghcr.io/lab/exp:1", "ghcr.io"),
        ("127.0.0.1:5000/lab/exp:1", "127.0.0.1:5000"),
        ("localhost/exp", "localhost"),
    ],
)
def test_the_registry_is_read_from_the_reference_as_docker_does(image, registry):
    assert registry_of(image) == registry


@pytest.fixture(autouse=True)
def no_login_in_environment(monkeypatch):
    monkeypatch.delenv("DLGR_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("DLGR_REGISTRY_PASSWORD", raising=False)


def never_asked() -> str:
    raise AssertionError("asked for a password")


def test_without_a_user_the_pull_is_anonymous():
    assert registry_login("ghcr.io/lab/exp:1", None, False, never_asked) == {}


def test_the_login_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DLGR_REGISTRY_USERNAME", "lab")
    monkeypatch.setenv("DLGR_REGISTRY_PASSWORD", "pw")
    variables = registry_login("ghcr.io/lab/exp:1", None, True, never_asked)
    assert "DLGR_REGISTRY_PASSWORD" not in os.environ  # ansible-runner records the environment
    assert variables == {
        "docker_images_registry_logins": [
            {"registry": "ghcr.io", "username": "lab", "password": "pw"}
        ],
        "docker_images_registry_keep_login": True,
    }


def test_a_user_without_a_password_is_asked():
    variables = registry_login("exp:1", "lab", False, lambda: "typed")
    assert variables["docker_images_registry_logins"][0]["password"] == "typed"


def test_no_password_and_no_terminal_is_refused_clearly():
    with pytest.raises(ImageProblem, match="set DLGR_REGISTRY_PASSWORD"):
        registry_login("exp:1", "lab", False, lambda: "")


def test_a_password_without_a_user_is_refused(monkeypatch):
    monkeypatch.setenv("DLGR_REGISTRY_PASSWORD", "pw")
    with pytest.raises(ImageProblem, match="set DLGR_REGISTRY_USERNAME"):
        registry_login("exp:1", None, False, never_asked)
