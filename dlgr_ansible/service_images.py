"""The images of the server's services that a config key may replace, and the role
variable each one sets: the one table both provision and deploy read."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceImage:
    config_key: str
    role: str
    variable: str
    what: str  # for --help


SERVICE_IMAGES = (
    # The shared stack (dallinger_server role).
    ServiceImage(
        "docker_postgresql_image",
        "dallinger_server",
        "dallinger_server_postgresql_image",
        "The shared PostgreSQL's image",
    ),
    ServiceImage(
        "docker_caddy_image",
        "dallinger_server",
        "dallinger_server_caddy_image",
        "The Caddy web server's image",
    ),
    ServiceImage(
        "docker_dozzle_image",
        "dallinger_server",
        "dallinger_server_dozzle_image",
        "The Dozzle log viewer's image (empty: no Dozzle)",
    ),
    # Each app's own services (dallinger_app role).
    ServiceImage(
        "docker_redis_image", "dallinger_app", "dallinger_app_redis_image", "Each app's Redis image"
    ),
    ServiceImage(
        "docker_pgbouncer_image",
        "dallinger_app",
        "dallinger_app_pgbouncer_image",
        "Each app's pgbouncer image",
    ),
)
CONFIG_KEYS = frozenset(image.config_key for image in SERVICE_IMAGES)


def of_role(role: str) -> dict[str, str]:
    """Config key -> role variable, for the images one role runs."""
    return {image.config_key: image.variable for image in SERVICE_IMAGES if image.role == role}
