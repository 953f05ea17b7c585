"""A researcher's config files for the benchmarks, as the README sets them up: the SSH key
in ~/.dallingerconfig (Dallinger's file), server settings in this tool's own config file
(defaults for every server), so that Dallinger still loads its own."""

from pathlib import Path

from dlgr_ansible import server_settings
from tests.testbed import service_images


def write_config(home: Path, key: Path, **settings: str) -> None:
    (home / ".dallingerconfig").write_text(f"[Parameters]\nserver_pem = {key}\n")
    own = home / server_settings.OWN_CONFIG
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text("[Parameters]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))


def stand_ins(dozzle: bool = True) -> dict[str, str]:
    """Settings for the test bed's servers: Debian's Docker packages, Caddy's own CA and
    the service stand-ins (no Dozzle unless asked for)."""
    return {
        "tls": "internal",
        "docker_engine_source": "distribution",
        "docker_postgresql_image": service_images.POSTGRES_IMAGE,
        "docker_caddy_image": service_images.CADDY_IMAGE,
        "docker_dozzle_image": service_images.DOZZLE_IMAGE if dozzle else "",
        "docker_redis_image": service_images.REDIS_IMAGE,
        "docker_pgbouncer_image": service_images.PGBOUNCER_IMAGE,
    }
