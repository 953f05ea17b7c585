"""Building from an experiment directory, with a fake `dallinger` package in sys.modules:
what reaches Dallinger's build, and how its failures read. The real build is in
tests/e2e/test_lifecycle.py (a real Dallinger, Docker and server)."""

import sys
import types
from pathlib import Path

import pytest

from dlgr_ansible import build
from dlgr_ansible.errors import DlgrError


class FakeDallinger:
    """Records what the build code is asked to do; `fail` makes its build fail."""

    def __init__(self, config: dict, fail: bool = False):
        self.config, self.fail, self.built, self.assembled = dict(config), fail, [], None

    def install(self, monkeypatch):
        fake = self

        class BuildError(Exception):
            pass

        class Config:
            types, ready = {"server_pem": str}, False

            def register(self, key, type_, sensitive=False):
                assert sensitive
                self.types[key] = type_

            def load(self):
                unknown = set(fake.config) - set(self.types) - {"docker_image_base_name"}
                assert not unknown, f"Dallinger refuses {unknown}"
                self.ready = True

            def get(self, key, default=None):
                return fake.config.get(key, default)

        def setup_experiment(log, local_checks, app, experiment_files):
            assert local_checks is False
            fake.assembled = Path.cwd().parent / "assembly" / "uid-1"
            fake.assembled.mkdir(parents=True)
            for name in experiment_files:
                (fake.assembled / name).write_text((Path.cwd() / name).read_text())
            fake.config["id"] = "uid-1"
            log("Experiment UID: uid-1", chevrons=False)
            return app, str(fake.assembled)

        def build_image(tmp_dir, base_image_name, out, image_tag):
            fake.built.append(
                sorted(p.relative_to(tmp_dir).as_posix() for p in Path(tmp_dir).rglob("*"))
            )
            out.blather("Built image\n")
            if fake.fail:
                raise BuildError
            return f"{base_image_name}:{image_tag}"

        modules = {
            "dallinger": types.ModuleType("dallinger"),
            "dallinger.command_line": types.ModuleType("dallinger.command_line"),
            "dallinger.command_line.utils": types.SimpleNamespace(
                Output=lambda log, error, blather: types.SimpleNamespace(
                    log=log, error=error, blather=blather
                ),
                get_experiment_files=lambda root: sorted(
                    p.name for p in Path(root).iterdir() if p.is_file()
                ),
            ),
            "dallinger.config": types.SimpleNamespace(get_config=Config),
            "dallinger.deployment": types.SimpleNamespace(setup_experiment=setup_experiment),
            "dallinger.docker": types.ModuleType("dallinger.docker"),
            "dallinger.docker.tools": types.SimpleNamespace(
                BuildError=BuildError,
                build_image=build_image,
                docker_tag_from_experiment_id=lambda uid: f"tag-{uid}",
            ),
        }
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture
def experiment(tmp_path):
    directory = tmp_path / "work" / "stroop"
    directory.mkdir(parents=True)
    (directory / "config.txt").write_text("[Experiment]\n")
    (directory / "experiment.py").write_text("")
    return directory


def test_the_working_directory_is_built_only_without_an_image(experiment, monkeypatch):
    monkeypatch.chdir(experiment)
    assert build.directory_to_build(None, None) == experiment
    assert build.directory_to_build("lab/exp:1", None) is None
    assert build.directory_to_build(None, "lab/exp:1") is None
    monkeypatch.chdir(experiment.parent)
    assert build.directory_to_build(None, None) is None


def test_without_dallinger_the_error_says_how_to_install_it(experiment, monkeypatch):
    monkeypatch.setitem(sys.modules, "dallinger", None)  # import fails
    with pytest.raises(build.BuildProblem, match=r"dlgr-ansible\[dallinger\]"):
        build.build_experiment_image(experiment, "stroop", None, print)


def test_dallinger_assembles_and_builds_and_its_directory_is_removed(experiment, monkeypatch):
    # This tool's keys in ~/.dallingerconfig: Dallinger's strict loading must accept them.
    tool_keys = {"server_pem": "~/.ssh/k", "tls": "internal", "docker_engine_source": "official"}
    fake = FakeDallinger({"docker_image_base_name": "lab/stroop", **tool_keys})
    fake.install(monkeypatch)
    said, before = [], Path.cwd()
    image = build.build_experiment_image(experiment, "stroop", None, said.append)
    assert image == "lab/stroop:tag-uid-1"
    assert fake.built == [["config.txt", "experiment.py"]]
    assert said == ["Experiment UID: uid-1", "Built image"]
    assert not fake.assembled.parent.exists()
    assert Path.cwd() == before


def test_a_ca_bundle_travels_in_the_build_context_of_an_own_dockerfile(
    experiment, tmp_path, monkeypatch
):
    fake = FakeDallinger({"docker_image_base_name": "lab/stroop"})
    fake.install(monkeypatch)
    bundle = tmp_path / "proxy.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(build.BuildProblem, match="--ca-bundle needs a Dockerfile"):
        build.build_experiment_image(experiment, "stroop", bundle, print)
    assert not fake.built

    (experiment / "Dockerfile").write_text("FROM scratch\n")
    fake = FakeDallinger({"docker_image_base_name": "lab/stroop"})
    fake.install(monkeypatch)
    build.build_experiment_image(experiment, "stroop", bundle, print)
    assert "build-ca/ca-certificates.crt" in fake.built[0]
    assert not (experiment / "build-ca").exists()  # the researcher's directory is untouched


@pytest.mark.parametrize(
    ("config", "fail", "message"),
    [
        ({}, False, "Set docker_image_base_name in config.txt"),
        ({"docker_image_base_name": "Lab Stroop"}, False, "not a valid Docker image"),
        ({"docker_image_base_name": "lab/stroop"}, True, "Docker's output is above"),
    ],
)
def test_build_failures_read_plainly(experiment, monkeypatch, config, fail, message):
    FakeDallinger(config, fail).install(monkeypatch)
    with pytest.raises(DlgrError, match=message):
        build.build_experiment_image(experiment, "stroop", None, print)
