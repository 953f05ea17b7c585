"""What the researcher's local Docker engine can provide to a server."""

import docker
from docker.errors import DockerException, ImageNotFound

from dlgr_ansible import validate
from dlgr_ansible.errors import DlgrError


class ImageProblem(DlgrError):
    """An image cannot be provided."""


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


def require_local(name: str) -> str:
    """An image to send from this machine: it must be a valid reference present locally."""
    validate.image(name)
    if not locally_available([name]):
        raise ImageProblem(
            f"The image {name} is not in your local Docker engine (or Docker is not running). "
            f"Build or pull it first (`docker pull {name}`), or let the server pull it from its "
            "registry."
        )
    return name


def _size(count: int) -> str:
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


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
                    f"  layer {number}/{len(layers)} {digest} {_size(layer['size']):>9}  {where}"
                )
    return lines
