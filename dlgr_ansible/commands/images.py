"""Images: send one from this machine's Docker engine, or have the server pull it."""

from collections.abc import Callable

from dlgr_ansible import validate
from dlgr_ansible.images import registry_login, require_local
from dlgr_ansible.reports import ImagesDelivered
from dlgr_ansible.session import Session


def push(session: Session, server: str | None, image: str) -> ImagesDelivered:
    variables = {
        "docker_images_names": [image],
        "docker_images_from_controller": [require_local(image, session.local_images)],
    }
    target = session.server(server)
    ran = session.run(
        "images.yml",
        target,
        session.config(),
        variables,
        f"Sending {image} to {target.host}",
        command="images push",
        presave=(image,),
    )
    return ImagesDelivered(ran)


def pull(
    session: Session,
    server: str | None,
    image: str,
    registry_user: str | None,
    keep_login: bool,
    ask_password: Callable[[], str],
) -> ImagesDelivered:
    validate.image(image)
    variables = {
        "docker_images_names": [image],
        **registry_login(image, registry_user, keep_login, ask_password),
    }
    target = session.server(server)
    ran = session.run(
        "images.yml",
        target,
        session.config(),
        variables,
        f"Pulling {image} on {target.host}",
        command="images pull",
    )
    return ImagesDelivered(ran)
