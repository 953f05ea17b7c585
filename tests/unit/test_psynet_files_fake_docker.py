"""Recognising a PsyNet experiment, cleaning up after its preparation, and its local
services without Docker: files in a temporary directory and a fake Docker client, no
PsyNet or server."""

import pytest

from dlgr_ansible import psynet


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ("psynet==13.3.0\n", True),
        ("numpy\nPsyNet == 13.3.0\n", True),
        ("psynet@git+https://gitlab.com/PsyNetDev/PsyNet@v13.3.0#egg=psynet\n", True),
        ("psynet[demos]==13.3.0\n", True),
        ("psynet\n", True),
        ("psynet>=13\n", True),
        ("-e git+https://gitlab.com/PsyNetDev/PsyNet@v13.3.0#egg=psynet\n", True),
        ("git+https://gitlab.com/PsyNetDev/PsyNet@abcdef12#egg=psynet\n", True),
        ("psynet-step==0.1.0\n", False),
        ("git+https://gitlab.com/x/psynet-step@v1#egg=psynet-step\n", False),
        ("# psynet==13.3.0\ndallinger==12.4.0\n", False),
        ("dallinger==12.4.0\n", False),
    ],
)
def test_a_psynet_experiment_is_known_by_its_requirements(tmp_path, requirements, expected):
    (tmp_path / "requirements.txt").write_text(requirements)
    assert psynet.is_psynet_experiment(tmp_path) is expected


def test_a_directory_without_requirements_is_no_psynet_experiment(tmp_path):
    assert psynet.is_psynet_experiment(tmp_path) is False


def test_psynets_asset_mount_is_recognised_by_its_container_path():
    assert psynet.uses_psynet_assets(["${HOME}/psynet-data/assets:/psynet-data/assets"])
    assert psynet.uses_psynet_assets(["/srv/assets:/psynet-data/assets:ro"])
    assert not psynet.uses_psynet_assets(["/psynet-data/assets:/elsewhere"])
    assert not psynet.uses_psynet_assets([])


def test_what_the_preparation_left_is_removed_and_nothing_else(tmp_path):
    (tmp_path / ".deploy").mkdir()
    (tmp_path / ".deploy" / "deployment_info.json").write_text("{}")
    (tmp_path / "source_code.zip").write_bytes(b"PK")
    (tmp_path / "experiment.py").write_text("")
    psynet.clean_directory(tmp_path)
    psynet.clean_directory(tmp_path)  # nothing left to remove: no error
    assert [path.name for path in tmp_path.iterdir()] == ["experiment.py"]


def test_without_a_reachable_docker_the_preparation_says_what_to_do(monkeypatch):
    def unreachable():
        raise psynet.DockerException("Error while fetching server API version")

    monkeypatch.setattr(psynet.docker, "from_env", unreachable)
    services = psynet.local_services("postgres:17", "redis:8")
    with pytest.raises(psynet.PreparationProblem, match="Start Docker, then deploy again"):
        services.__enter__()


def test_an_update_sends_cached_assets_only(tmp_path):
    assets = tmp_path / psynet.ASSETS_FOLDER
    for name in ("cached/m/k/1.png", "experiments/dep__1/m/k__u.wav"):
        (assets / name).parent.mkdir(parents=True, exist_ok=True)
        (assets / name).write_bytes(b"x")
    assert psynet.assets_to_send(tmp_path, update=False) == assets
    assert (assets / "experiments").is_dir()
    assert psynet.assets_to_send(tmp_path, update=True) == assets
    assert [path.name for path in assets.iterdir()] == ["cached"]


def test_an_experiment_without_assets_sends_an_empty_folder(tmp_path):
    assert list(psynet.assets_to_send(tmp_path, update=False).iterdir()) == []
