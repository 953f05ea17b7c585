"""Map deploy's options and the config onto the dallinger_app role's variables."""

import getpass
import ipaddress
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from dlgr_ansible import psynet, seed_archive, server_settings, service_images, validate
from dlgr_ansible.config import Config
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.images import ImageLookup, locally_available
from dlgr_ansible.local_secrets import LocalPassword

# Settings about the server and this tool, not the experiment: kept out of its environment.
NOT_FOR_THE_APP = {
    "server_pem",
    *server_settings.KEYS,
    # Dallinger drops these too: the server gives the app its own database.
    "database_url",
    "heroku_auth_token",
    "host",
}
# Config key -> dallinger_app variable, for the images of the app's services.
IMAGE_KEYS = service_images.of_role("dallinger_app")
# Does this name resolve? Raises OSError when not. The real answer is `resolve_name`;
# unit tests pass a fake, so they never depend on this machine's resolver.
Resolver = Callable[[str], None]


def resolve_name(hostname: str) -> None:
    socket.getaddrinfo(hostname, 443)


@dataclass(frozen=True)
class Deployment:
    name: str
    server: str
    url: str
    dashboard_user: str
    dashboard: LocalPassword | None  # None when the config sets dashboard_password
    variables: dict  # the dallinger_app role's

    @property
    def dns_host(self) -> str:
        return self.variables["dallinger_app_dns_host"]

    @property
    def tls(self) -> str:
        return self.variables["dallinger_app_tls"]

    @property
    def image(self) -> str:
        return self.variables["dallinger_app_image"]


def choose_name(app_name: str | None, archive: Path | None) -> str:
    """--app, else the experiment id of the archive, else a new dlgr-xxxxxxxx. An archive
    is checked either way."""
    from_archive = seed_archive.experiment_id(archive) if archive else None
    if app_name:
        return validate.app_name(app_name)
    if from_archive is not None:
        return validate.app_name(from_archive)
    return f"dlgr-{secrets.token_hex(4)}"


def resolve_dns_host(dns_host: str | None, config: Config, server_host: str) -> str:
    """--dns-host, the dns_host config key, or the server's own name (as Dallinger)."""
    value = dns_host or config.get("dns_host")
    is_ip = _is_ip(server_host)
    if value == "nip.io":
        if not is_ip:
            raise DlgrError("--dns-host nip.io needs a server saved by its IP address.")
        return f"{server_host}.nip.io"
    if value:
        return validate.dns_host(value)
    if is_ip:
        raise DlgrError(
            f"The server {server_host} is an IP address, so give the domain the app is served "
            "under: --dns-host experiments.example.org (a DNS record *.experiments.example.org "
            f"pointing at {server_host}), or --dns-host nip.io (no DNS needed; some browsers "
            "find such names suspicious)."
        )
    return validate.dns_host(server_host)


def default_tls(domain: str) -> str:
    """Let's Encrypt, except for names only this machine knows (a rehearsal server)."""
    return "internal" if domain == "localhost" or domain.endswith(".localhost") else "acme"


def check_dns(plan: "Deployment", resolve: Resolver = resolve_name) -> None:
    """The app's name must resolve before anything changes: /launch and Caddy's
    certificate both depend on it."""
    hostname = urlsplit(plan.url).hostname
    try:
        resolve(hostname)
    except OSError as exc:
        domain = plan.dns_host
        raise DlgrError(
            f"{hostname} does not resolve ({exc.strerror or exc}). Create a DNS record "
            f"*.{domain} pointing at the server, or use --dns-host nip.io."
        ) from exc


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def app_environment(config: Config, mode: str, image: str, dashboard_user: str) -> dict:
    """The app's environment: every config key (as Dallinger passes them) plus its own,
    but the dashboard password, which the caller adds (else the app keeps its own)."""
    environment = {}
    for key, value in config.values.items():
        if key in NOT_FOR_THE_APP:
            continue
        environment[validate.config_key(key)] = validate.config_value(key, value)
    for key in ("aws_access_key_id", "aws_secret_access_key"):
        if key in environment:
            environment[key.upper()] = environment.pop(key)
    if "aws_region" in environment:
        environment["AWS_DEFAULT_REGION"] = environment["aws_region"]
    # Dallinger's default logfile, server.log in /experiment, cannot be written by the
    # SSH user's uid the containers run as (docker-ssh runs them as root): the web would
    # stop at start. "-" sends the log to Docker's (`logs`, Dozzle).
    environment.setdefault("logfile", "-")
    environment.update(
        mode=mode,
        dashboard_user=dashboard_user,
        ADMIN_USER="admin",
        CREATOR=f"{getpass.getuser()}@{socket.gethostname()}",
        docker_image_name=image,
    )
    return environment


def plan_deployment(
    config: Config,
    server_host: str,
    *,
    app_name: str | None,
    image: str | None,
    dns_host: str | None,
    tls: str | None,
    mode: str,
    update: bool,
    archive: str | None,
    https_port: int = 443,
    server_address: str | None = None,
    build: bool = False,
    build_psynet: bool = False,
    local_images: ImageLookup = locally_available,
) -> Deployment:
    """Everything a deploy needs, checked before anything connects. With `build` and no
    image given or configured, the image is set later by `with_image`. A PsyNet
    experiment (`build_psynet`, or a config that mounts PsyNet's assets, as PsyNet's
    requires) gets the role's own mounts of them instead of the configured one."""
    archive_path = Path(archive).absolute() if archive else None
    if archive_path and update:
        raise DlgrError(
            "--archive seeds a new app's database; it cannot be combined with --update."
        )
    name = choose_name(app_name, archive_path)
    image = image or config.get("docker_image_name")
    if not image and not build:
        raise DlgrError(
            "Which image? Give --image NAME, set docker_image_name in config.txt, or run "
            "deploy in the experiment's directory to build it there (needs Dallinger: "
            "pip install 'dlgr-ansible[dallinger]')."
        )
    image = validate.image(image) if image else ""
    domain = resolve_dns_host(dns_host, config, server_address or server_host)
    tls = tls or config.get("tls") or default_tls(domain)
    validate.tls(tls)
    workers = validate.whole_number("num_dynos_worker", config.get("num_dynos_worker"), 1, 0)
    cpu_shares = validate.whole_number(
        "docker_worker_cpu_shares", config.get("docker_worker_cpu_shares"), 1024, 2
    )
    volumes = [v.strip() for v in (config.get("docker_volumes") or "").split(",") if v.strip()]
    is_psynet = build_psynet or psynet.uses_psynet_assets(volumes)
    if is_psynet:
        volumes = [v for v in volumes if not psynet.uses_psynet_assets([v])]
    # PsyNet's own config default (Experiment.config_defaults) runs the clock.
    clock = validate.flag("clock_on", config.get("clock_on") or ("true" if is_psynet else None))
    acme_email = config.acme_email()
    user = config.get("dashboard_user") or "admin"
    environment = app_environment(config, mode, image, user)
    service_images = {
        variable: validate.image(config.get(key))
        for key, variable in IMAGE_KEYS.items()
        if config.get(key)
    }
    configured = config.get("dashboard_password")
    # An update from a machine that has no password saved for the app (deployed from
    # another machine, or by `dallinger docker-ssh`) keeps the one the app has.
    keep = not configured and update and not LocalPassword.saved(server_host, f"{name}-dashboard")
    dashboard = (
        None if configured or keep else LocalPassword.for_server(server_host, f"{name}-dashboard")
    )
    password = configured or (dashboard.value if dashboard else None)
    if password is not None:
        environment["dashboard_password"] = password
    variables = {
        "dallinger_app_name": name,
        "dallinger_app_expect": "existing" if update else "new",
        "dallinger_app_image": image,
        "dallinger_app_dns_host": domain,
        "dallinger_app_tls": tls,
        "dallinger_app_acme_email": acme_email,
        "dallinger_app_environment": environment,
        "dallinger_app_environment_kept": ["dashboard_password"] if keep else [],
        "dallinger_app_workers": workers,
        "dallinger_app_worker_cpu_shares": cpu_shares,
        "dallinger_app_clock": clock,
        "dallinger_app_volumes": volumes,
        "dallinger_app_psynet": is_psynet,
        "dallinger_app_archive": str(archive_path or ""),
        "dallinger_app_https_port": https_port,
        **service_images,
    }
    plan = Deployment(
        name=name,
        server=server_host,
        url=f"https://{name}.{domain}{'' if https_port == 443 else f':{https_port}'}/",
        dashboard_user=user,
        dashboard=dashboard,
        variables=variables,
    )
    return with_image(plan, image, local_images) if image else plan


def with_image(
    plan: Deployment, image: str, local_images: ImageLookup = locally_available
) -> Deployment:
    """`plan` deploying `image`, sent from this machine's Docker when it has it."""
    variables = dict(plan.variables)
    variables["dallinger_app_image"] = image
    variables["dallinger_app_environment"] = {
        **variables["dallinger_app_environment"],
        "docker_image_name": image,
    }
    images = [image] + [variables[v] for v in IMAGE_KEYS.values() if v in variables]
    variables["dallinger_app_images_from_controller"] = local_images(images)
    return replace(plan, variables=variables)


def app_report(plan: Deployment, deployed: dict) -> dict:
    """What the researcher needs after a deploy; the password only when it is new."""
    report = {
        "name": plan.name,
        "url": deployed.get("url", plan.url),
        "dashboard_url": deployed.get("url", plan.url) + "dashboard",
        "dashboard_user": plan.dashboard_user,
        "created": bool(deployed.get("created")),
        "recruitment_msg": deployed.get("recruitment_msg", ""),
        "logs": f"dlgr-ansible logs --app {plan.name} --server {plan.server} --follow",
    }
    if plan.variables.get("dallinger_app_environment_kept"):
        report["dashboard_password_kept"] = True
    if plan.dashboard:
        report["dashboard_password_file"] = str(plan.dashboard.saved_in)
        # Also when an earlier, failed try made it: nobody has seen it yet.
        if plan.dashboard.new or report["created"]:
            report["dashboard_password"] = plan.dashboard.value
    return report
