"""Build an experiment's image from its directory with Dallinger's own build code, as
`dallinger docker-ssh deploy --local-build` does: Dallinger assembles the experiment
(config, requirements, its frontend) in a temporary directory and builds it with the
experiment's own Dockerfile or Dallinger's template. Needs the optional `dallinger`
extra (`pip install 'dlgr-ansible[dallinger]'`)."""

import gc
import hashlib
import importlib.util
import shutil
import sys
import uuid
import warnings
from contextlib import chdir, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

from dlgr_ansible import validate
from dlgr_ansible.deploy import NOT_FOR_THE_APP
from dlgr_ansible.errors import DlgrError

EXTRA = "pip install 'dlgr-ansible[dallinger]'"
# Where a CA bundle lands in the assembled build context; an experiment's Dockerfile
# that uses it keeps it out of the final image (examples/hello/Dockerfile).
CA_IN_CONTEXT = Path("build-ca") / "ca-certificates.crt"


class BuildProblem(DlgrError):
    """The experiment's image cannot be built."""


def is_experiment_directory(directory: Path) -> bool:
    return (directory / "config.txt").is_file() and (directory / "experiment.py").is_file()


@dataclass(frozen=True)
class Built:
    name: str  # <base_name>:<experiment id>
    new: bool  # not the image the name had before the build (Docker's cache made it again)


def check_build(directory: Path, base_name: str | None, ca_bundle: Path | None) -> str:
    """What can be checked in an instant before a build (Dallinger's import takes a
    second): the image's base name (returned), the CA bundle, Dallinger and docker."""
    base_name = validate.image_base_name(base_name)
    if ca_bundle:
        check_ca_bundle(directory, ca_bundle)
    try:
        found = importlib.util.find_spec("dallinger") is not None
    except (ImportError, ValueError):  # a module set to None, or without a spec
        found = "dallinger" in sys.modules and sys.modules["dallinger"] is not None
    if not found:
        raise _no_dallinger(directory, "it is not installed")
    if not shutil.which("docker"):
        raise BuildProblem("Building needs the docker command; install Docker, or give --image.")
    return base_name


def _no_dallinger(directory: Path, why: object) -> BuildProblem:
    return BuildProblem(
        f"No image was given, and Dallinger's build code cannot be imported to build one "
        f"from {directory} ({why}). Install it in the experiment's environment ({EXTRA}), "
        "or give --image NAME."
    )


def build_experiment_image(
    directory: Path, app: str, base_name: str | None, ca_bundle: Path | None, log
) -> Built:
    """Builds `directory`'s experiment for the app `app`: the image is named
    `<base_name>:<experiment id>`, the id derived from what is built (see pin_experiment_id).
    `log(text)` receives Dallinger's messages; Docker's build output goes to stderr."""
    base_name = check_build(directory, base_name, ca_bundle)
    # Importing Dallinger replaces warnings.showwarning with its own, which prints to
    # stdout (the --json document's) and asks Redis first; ours comes back after.
    show_warning = warnings.showwarning
    # The import makes some 300,000 objects and little garbage: the collector's passes
    # over them cost a quarter of its second. Frozen after, later passes skip them too.
    gc.disable()
    try:
        from dallinger.command_line.utils import Output, get_experiment_files
        from dallinger.config import get_config
        from dallinger.deployment import setup_experiment
        from dallinger.docker.tools import BuildError, build_image, docker_tag_from_experiment_id
    except ImportError as exc:
        raise _no_dallinger(directory, exc) from None
    finally:
        warnings.showwarning = show_warning
        gc.freeze()
        gc.enable()
    out = Output(log=_lines(log), error=_lines(log), blather=_lines(log))
    # Dallinger reads config.txt and the experiment's files from the working directory,
    # and prints some messages: stdout is for --json's document.
    with chdir(directory), redirect_stdout(sys.stderr):
        try:
            _load_config(get_config())
            files = get_experiment_files(str(directory))
            _, assembled = setup_experiment(
                out.log, local_checks=False, app=app, experiment_files=files
            )
        except Exception as exc:  # Dallinger's own checks: config, files, requirements
            raise BuildProblem(
                f"Dallinger could not prepare {directory} for a build: {exc}"
            ) from None
        try:
            experiment_id = pin_experiment_id(Path(assembled), get_config().get("id"))
            if ca_bundle:
                copy = Path(assembled) / CA_IN_CONTEXT
                copy.parent.mkdir(exist_ok=True)
                shutil.copyfile(ca_bundle, copy)
            tag = docker_tag_from_experiment_id(experiment_id)
            before = _image_id(f"{base_name}:{tag}")
            name = build_image(assembled, base_name, out=out, image_tag=tag)
            return Built(name, new=_image_id(name) != before)
        except BuildError:
            raise BuildProblem(
                "Building the image failed; Docker's output is above. Dallinger builds with "
                "BuildKit: if Docker says the buildx component is missing, install it "
                "(Debian: docker-buildx). Behind a TLS-intercepting proxy, pass --ca-bundle."
            ) from None
        except DockerException as exc:
            raise BuildProblem(f"Docker cannot be reached ({exc}). Is it running?") from None
        finally:
            # setup_experiment makes <mkdtemp>/<experiment id>; the whole tree is ours.
            shutil.rmtree(Path(assembled).parent, ignore_errors=True)


def _image_id(name: str) -> str | None:
    try:
        return docker.from_env().images.get(name).id
    except DockerException:  # ImageNotFound among them
        return None


def pin_experiment_id(assembled: Path, random_id: str) -> str:
    """Dallinger gives every build a new random experiment id, writes it into the
    assembled config.txt and experiment_id.txt and names the image after it, so no two
    builds are alike and an update with nothing changed would restart the experiment
    (its participants lose their page). The id becomes a hash of the assembled files
    instead: the same experiment builds the same image under the same name, and Docker's
    cache makes that build take seconds. Recruiters use the id at run time; it changes
    when the experiment does, as with Dallinger, and differs between apps, since the
    assembled config.txt names the app (heroku_app_id_root)."""
    pinned_files = [assembled / "config.txt", assembled / "experiment_id.txt"]
    digest = hashlib.sha256()
    for path in sorted(p for p in assembled.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path in pinned_files:
            content = content.replace(random_id.encode(), b"")
        digest.update(f"{path.relative_to(assembled).as_posix()}\0{len(content)}\0".encode())
        digest.update(content)
    pinned = str(uuid.UUID(bytes=digest.digest()[:16], version=4))
    for path in pinned_files:
        if path.is_file():
            path.write_text(path.read_text(encoding="utf-8").replace(random_id, pinned), "utf-8")
    return pinned


def _load_config(config) -> None:
    """Dallinger refuses keys it does not know, and ~/.dallingerconfig may hold this tool's
    own (the server's settings): registered as sensitive, they stay out of the config.txt
    that Dallinger writes into the image, as does the path of the SSH key."""
    for key in NOT_FOR_THE_APP:
        if key not in config.types:
            config.register(key, str, sensitive=True)
    config.sensitive.add("server_pem")
    if not config.ready:
        config.load()


def check_ca_bundle(directory: Path, ca_bundle: Path) -> None:
    """Dallinger passes no build arguments, so the bundle travels in the build context,
    where only an experiment's own Dockerfile can use it."""
    if not ca_bundle.is_file():
        raise BuildProblem(f"The CA bundle {ca_bundle} is not a file.")
    if not (directory / "Dockerfile").is_file():
        raise BuildProblem(
            "--ca-bundle needs a Dockerfile in the experiment directory: Dallinger's generated "
            f"one cannot use it. Add a Dockerfile whose pip uses {CA_IN_CONTEXT.as_posix()} "
            "from the build context (see examples/hello/Dockerfile in dlgr-ansible)."
        )


def _lines(log):
    """Dallinger calls its output functions with extra keywords (chevrons, delay)."""

    def write(text="", *args, **kwargs):
        text = str(text).strip()
        if text:
            log(text)

    return write


def directory_to_build(image: str | None, configured_image: str | None) -> Path | None:
    """The working directory, when no image is given or configured and it holds an
    experiment (as `dallinger docker-ssh deploy` builds one there)."""
    here = Path.cwd()
    if image or configured_image or not is_experiment_directory(here):
        return None
    return here
