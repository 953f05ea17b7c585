"""Building from an experiment directory, with a fake `dallinger` package in sys.modules:
what reaches Dallinger's build, and how its failures read. The real build is in
tests/e2e/test_lifecycle.py (a real Dallinger, Docker and server)."""

import hashlib
import sys
import types
import warnings
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from dlgr_ansible import build
from dlgr_ansible.errors import DlgrError


class FakeDallinger:
    """Records what the build code is asked to do; `fail` makes its build fail."""

    def __init__(self, config: dict | None = None, fail: bool = False):
        self.config, self.fail, self.built, self.assembled = dict(config or {}), fail, [], None
        self.builds, self.ids, self.configs = 0, [], []
        self.images = {}  # name: id, in the fake Docker engine

    def install(self, monkeypatch):
        fake = self
        fake.the_config = None

        class BuildError(Exception):
            pass

        class Config:
            """One per process, as Dallinger's; its load refuses unknown keys."""

            def __init__(self):
                self.types, self.sensitive, self.ready = {"server_pem": str}, set(), False

            def register(self, key, type_, sensitive=False):
                self.types[key] = type_
                if sensitive:
                    self.sensitive.add(key)

            def load(self):
                unknown = set(fake.config) - set(self.types)
                assert not unknown, f"Dallinger refuses {unknown}"
                self.ready = True

            def get(self, key, default=None):
                return fake.config.get(key, default)

        def setup_experiment(log, local_checks, app, experiment_files):
            assert local_checks is False
            assert fake.the_config.ready
            print("Dallinger prints this")  # as Dallinger does in places
            # A new random id for every build, in config.txt and experiment_id.txt.
            fake.builds += 1
            uid = f"uid-{fake.builds}"
            fake.assembled = Path.cwd().parent / "assembly" / uid
            fake.assembled.mkdir(parents=True)
            for name in experiment_files:
                (fake.assembled / name).write_text((Path.cwd() / name).read_text())
            with (fake.assembled / "config.txt").open("a") as config_txt:
                config_txt.write(f"id = {uid}\nheroku_app_id_root = {app}\n")
            (fake.assembled / "experiment_id.txt").write_text(uid)
            fake.config["id"] = uid
            log(f"Experiment UID: {uid}", chevrons=False)
            return app, str(fake.assembled)

        def build_image(tmp_dir, base_image_name, out, image_tag):
            files = sorted(p for p in Path(tmp_dir).rglob("*") if p.is_file())
            fake.built.append(
                sorted(p.relative_to(tmp_dir).as_posix() for p in Path(tmp_dir).rglob("*"))
            )
            # As Docker's cache: the same files make the same image.
            content = b"".join(p.name.encode() + p.read_bytes() for p in files)
            fake.images[f"{base_image_name}:{image_tag}"] = hashlib.sha256(content).hexdigest()
            fake.ids.append((Path(tmp_dir) / "experiment_id.txt").read_text())
            fake.configs.append((Path(tmp_dir) / "config.txt").read_text())
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
            "dallinger.config": types.SimpleNamespace(get_config=lambda: fake.the_config),
            "dallinger.deployment": types.SimpleNamespace(setup_experiment=setup_experiment),
            "dallinger.docker": types.ModuleType("dallinger.docker"),
            "dallinger.docker.tools": types.SimpleNamespace(
                BuildError=BuildError,
                build_image=build_image,
                docker_tag_from_experiment_id=lambda uid: f"tag-{uid}",
            ),
        }
        fake.the_config = Config()
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)

        def get(name):
            if name not in fake.images:
                raise ImageNotFound(name)
            return types.SimpleNamespace(id=fake.images[name])

        engine = types.SimpleNamespace(images=types.SimpleNamespace(get=get))
        monkeypatch.setattr(docker, "from_env", lambda: engine)


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
        build.build_experiment_image(experiment, "stroop", "lab/stroop", None, print)


def test_dallinger_assembles_and_builds_and_its_directory_is_removed(
    experiment, monkeypatch, capsys
):
    # This tool's keys in ~/.dallingerconfig: Dallinger's strict loading must accept them.
    fake = FakeDallinger({"server_pem": "~/.ssh/k", "tls": "internal", "dns_host": "lab.org"})
    fake.install(monkeypatch)
    said, before = [], Path.cwd()
    image = build.build_experiment_image(experiment, "stroop", "lab/stroop", None, said.append)
    assert image.name == f"lab/stroop:tag-{fake.ids[0]}"
    assert fake.built == [["config.txt", "experiment.py", "experiment_id.txt"]]
    assert said == ["Experiment UID: uid-1", "Built image"]
    # Kept out of the config.txt Dallinger writes into the image.
    assert {"server_pem", "tls", "dns_host"} <= fake.the_config.sensitive
    assert not fake.assembled.parent.exists()
    assert Path.cwd() == before
    printed = capsys.readouterr()
    assert printed.out == ""  # stdout is --json's
    assert "Dallinger prints this" in printed.err


def test_a_ca_bundle_travels_in_the_build_context_of_an_own_dockerfile(
    experiment, tmp_path, monkeypatch
):
    fake = FakeDallinger()
    fake.install(monkeypatch)
    bundle = tmp_path / "proxy.pem"
    with pytest.raises(build.BuildProblem, match="not a file"):
        build.build_experiment_image(experiment, "stroop", "lab/stroop", bundle, print)
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(build.BuildProblem, match="--ca-bundle needs a Dockerfile"):
        build.build_experiment_image(experiment, "stroop", "lab/stroop", bundle, print)
    assert fake.assembled is None  # refused before Dallinger assembled anything

    (experiment / "Dockerfile").write_text("FROM scratch\n")
    build.build_experiment_image(experiment, "stroop", "lab/stroop", bundle, print)
    assert "build-ca/ca-certificates.crt" in fake.built[0]
    assert not (experiment / "build-ca").exists()  # the researcher's directory is untouched


@pytest.mark.parametrize(
    ("base_name", "fail", "message"),
    [
        (None, False, "Set docker_image_base_name in config.txt"),
        ("Lab Stroop", False, "not a valid Docker image"),
        ("lab/stroop:1", False, "leave out the tag \\('lab/stroop'\\)"),
        ("localhost:5000/stroop@sha256:" + "a" * 64, False, "'localhost:5000/stroop'"),
        ("localhost:5000/stroop", True, "Docker's output is above"),
    ],
)
def test_build_failures_read_plainly(experiment, monkeypatch, base_name, fail, message):
    FakeDallinger(fail=fail).install(monkeypatch)
    with pytest.raises(DlgrError, match=message):
        build.build_experiment_image(experiment, "stroop", base_name, None, print)


def test_the_same_experiment_builds_under_the_same_name(experiment, monkeypatch):
    """Dallinger's random experiment id is replaced by one derived from what is built, so
    an update with nothing changed finds the running image's name (and Docker's cache)."""
    fake = FakeDallinger()
    fake.install(monkeypatch)
    first = build_experiment_image(experiment, "stroop")
    again = build_experiment_image(experiment, "stroop")
    assert first == again
    pinned = fake.ids[0]
    assert pinned == fake.ids[1]
    assert "uid-" not in pinned
    assert f"id = {pinned}\n" in fake.configs[0]
    assert build_experiment_image(experiment, "stroop-2") != first  # config.txt names the app
    (experiment / "experiment.py").write_text("# changed\n")
    assert build_experiment_image(experiment, "stroop") != first


def test_a_build_says_whether_its_image_is_new(experiment, monkeypatch):
    # A new image is saved for the server while the playbook starts; one that Docker's
    # cache gave back unchanged is most likely on the server already.
    FakeDallinger().install(monkeypatch)
    assert build.build_experiment_image(experiment, "stroop", "lab/stroop", None, print).new
    again = build.build_experiment_image(experiment, "stroop", "lab/stroop", None, print)
    assert not again.new
    (experiment / "experiment.py").write_text("# changed\n")
    assert build.build_experiment_image(experiment, "stroop", "lab/stroop", None, print).new


def build_experiment_image(experiment, app):
    return build.build_experiment_image(experiment, app, "lab/stroop", None, print).name


def test_dallingers_warning_printer_is_undone_after_its_import(experiment, monkeypatch):
    # Dallinger's import sets warnings.showwarning to a printer of its own (on stdout).
    FakeDallinger().install(monkeypatch)
    setup_experiment = sys.modules["dallinger.deployment"].setup_experiment
    deployment = types.ModuleType("dallinger.deployment")

    def on_import(name):
        warnings.showwarning = lambda message, *args, **kwargs: print(message)
        return setup_experiment

    deployment.__getattr__ = on_import
    monkeypatch.setitem(sys.modules, "dallinger.deployment", deployment)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    ours = warnings.showwarning
    build_experiment_image(experiment, "stroop")
    assert warnings.showwarning is ours
