"""What the researcher's local Docker engine can provide to a server, and the registry
login for the images the server pulls."""

import os
import subprocess
from collections.abc import Callable

import docker
from docker.errors import DockerException, ImageNotFound

from dlgr_ansible import validate
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.transfer import size


class ImageProblem(DlgrError):
    """An image cannot be provided."""


# Which of these images does this machine's Docker engine have? The real answer is
# `locally_available`; unit tests pass a fake, so they never ask a Docker engine.
ImageLookup = Callable[[list[str]], list[str]]


def locally_available(names: list[str]) -> list[str]:
    """The names among `names` that the local Docker engine has; none when it is not running."""
    wanted = [name for name in names if name]
    if not wanted:
        return []
    try:
        client = docker.from_env()
    except DockerException:
        return []
    try:
        return [name for name in wanted if _has(client, name)]
    except DockerException:  # the engine went away: nothing can be sent from here
        return []
    finally:
        client.close()


def _has(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True


def copy_from_server(save_argv: list[str], name: str) -> bool:
    """`name` from a server's Docker engine into this machine's: its `docker save` run over
    ssh (`save_argv`), streamed into the local engine as it comes. False when there is no
    local engine to load it into (the server it goes to pulls it then)."""
    try:
        client = docker.from_env()
    except DockerException:
        return False
    try:
        with subprocess.Popen(save_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as saving:
            # A generator: the request goes out in chunks, the image never held in memory.
            chunks = iter(lambda: saving.stdout.read(1 << 20), b"")
            problems = [line["error"] for line in client.api.load_image(chunks) if "error" in line]
            failed = saving.stderr.read().decode("utf-8", "replace").strip()
    except (OSError, DockerException) as exc:
        raise ImageProblem(f"{name} could not be copied from its server: {exc}") from exc
    finally:
        client.close()
    if saving.returncode != 0 or problems:
        raise ImageProblem(
            f"{name} could not be copied from its server: "
            f"{'; '.join(problems) or failed or f'ssh ended with {saving.returncode}'}"
        )
    return True


def require_local(name: str, local_images: ImageLookup = locally_available) -> str:
    """An image to send from this machine: it must be a valid reference present locally."""
    validate.image(name)
    if not local_images([name]):
        raise ImageProblem(
            f"The image {name} is not in your local Docker engine (or Docker is not running). "
            f"Build or pull it first (`docker pull {name}`), or let the server pull it from its "
            "registry."
        )
    return name


def delivery_lines(results: dict) -> list[str]:
    """What `docker_images` sent, layer by layer, from its `dlgr_images` stats."""
    lines = []
    for host, sent_images in (results.get("dlgr_images") or {}).items():
        for image, sent in sent_images.items():
            lines.append(f"{host}: {sent.get('msg', image)}")
            layers = sent.get("layers") or []
            for number, layer in enumerate(layers, 1):
                where = "sent" if layer["sent"] else "on the server"
                digest = layer["diff_id"].removeprefix("sha256:")[:12]
                lines.append(
                    f"  layer {number}/{len(layers)} {digest} {size(layer['size']):>9}  {where}"
                )
    return lines


USERNAME_ENV = "DLGR_REGISTRY_USERNAME"
PASSWORD_ENV = "DLGR_REGISTRY_PASSWORD"  # noqa: S105 (a variable name)


def registry_of(image: str) -> str:
    """The registry an image reference names, as Docker reads it (docker.io by default)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def login_wanted(username: str | None) -> bool:
    """Whether registry_login has work to do (or an error to give)."""
    return bool(username or os.environ.get(USERNAME_ENV) or os.environ.get(PASSWORD_ENV))


def registry_login(image: str, username: str | None, keep: bool, ask_password) -> dict:
    """Role variables for the server's login to `image`'s registry. The password comes
    from the environment or `ask_password()`, never from an option: options are visible
    to every user of this machine (ps) and stay in shell histories."""
    username = username or os.environ.get(USERNAME_ENV, "")
    # Out of the environment that ansible-runner records: the vars file carries it.
    password = os.environ.pop(PASSWORD_ENV, "")
    if password and not username:
        raise ImageProblem(f"{PASSWORD_ENV} is set but no user name: set {USERNAME_ENV} too.")
    if not username:
        return {}
    password = password or ask_password()
    if not password:
        raise ImageProblem(
            f"No registry password for {username}: set {PASSWORD_ENV}, or run in a terminal "
            "to be asked."
        )
    login = {"registry": registry_of(image), "username": username, "password": password}
    return {
        "docker_images_registry_logins": [login],
        "docker_images_registry_keep_login": keep,
    }
