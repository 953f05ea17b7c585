"""Map the CLI's options and the config keys onto the provisioning roles' variables."""

from dlgr_ansible import service_images, validate
from dlgr_ansible.config import Config
from dlgr_ansible.dozzle import DozzleLogin
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.images import ImageLookup, locally_available

# Config key -> role variable, for the images of the shared stack.
IMAGE_KEYS = service_images.of_role("dallinger_server")


def docker_variables(config: Config, docker_source: str | None = None) -> dict:
    source = docker_source or config.get("docker_engine_source") or "official"
    return {"docker_engine_source": validate.docker_source(source)}


def stack_variables(
    config: Config,
    dns_host: str | None = None,
    tls: str | None = None,
    local_images: ImageLookup = locally_available,
) -> dict:
    """Variables for the dallinger_server role; raises DlgrError on bad values.

    `local_images` says which images this machine's Docker engine has (those are sent
    from here); unit tests pass a fake."""
    tls = validate.tls(tls or config.get("tls") or "acme")
    email = config.acme_email()
    if tls == "acme" and not validate.is_email(email):
        raise DlgrError(
            "Certificates from Let's Encrypt need a contact e-mail address: save one with the "
            "server (`dlgr-ansible servers set --acme-email ADDRESS`) or set "
            "contact_email_on_error in config.txt or ~/.dallingerconfig; or use --tls internal "
            "for a server without public DNS."
        )
    dns_host = dns_host or config.get("dns_host")
    variables = {
        "dallinger_server_tls": tls,
        "dallinger_server_acme_email": email,
        "dallinger_server_dns_host": validate.dns_host(dns_host) if dns_host else "",
    }
    for key, variable in IMAGE_KEYS.items():
        value = config.get(key)
        if value is not None:
            variables[variable] = validate.image(value) if value else ""
    images = [variables.get(variable) for variable in IMAGE_KEYS.values()]
    variables["dallinger_server_images_from_controller"] = local_images(
        [image for image in images if image]
    )
    return variables


def server_variables(
    config: Config,
    host: str,
    dns_host: str | None = None,
    tls: str | None = None,
    docker_source: str | None = None,
    local_images: ImageLookup = locally_available,
) -> tuple[dict, DozzleLogin | None]:
    """Variables of provision.yml (also run by every deploy), and the Dozzle login offered."""
    variables = docker_variables(config, docker_source)
    variables |= stack_variables(config, dns_host, tls, local_images)
    dozzle = dozzle_offer(config, host)
    if dozzle:
        variables |= dozzle_variables(dozzle)
    return variables, dozzle


def dozzle_offer(config: Config, host: str) -> DozzleLogin | None:
    """The Dozzle login offered to `host` (made and kept here when new); None without Dozzle."""
    dozzle_enabled = config.get("docker_dozzle_image") != ""  # unset means the default image
    return DozzleLogin.offered(host) if dozzle_enabled else None


def dozzle_variables(login: DozzleLogin | None) -> dict:
    return {"dallinger_server_dozzle_password_hash": login.password_hash} if login else {}
