"""Settings that belong to a server, not to an experiment: where its apps are served,
its certificates, its Docker packages and its service images.

They are saved with the server, as extra keys of its record in the hosts store (Dallinger
ignores keys it does not know there), never in `~/.dallingerconfig` or `config.txt`:
Dallinger 12.4 refuses to load a config file that holds keys it does not know. This
tool's own config file holds defaults for every server. Each setting is named by its
config key, which `-c KEY VALUE` takes for one run.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dlgr_ansible import capacity, service_images, validate
from dlgr_ansible.errors import DlgrError

# This tool's own config file, beside its other files on this machine: defaults for
# every server (an INI file, keys in any section, as Dallinger's).
OWN_CONFIG = Path(".dallinger") / "dlgr-ansible" / "config.txt"


@dataclass(frozen=True)
class Setting:
    key: str  # the config key, and the key in the server's record
    option: str  # of `servers add` and `servers set`
    help: str
    check: Callable[[str], str]


def _email(value: str) -> str:
    if not validate.is_email(value):
        raise validate.ValidationError(
            f"acme_email is {value!r}; give the address Let's Encrypt writes to about the "
            "server's certificates (e.g. lab@example.org)."
        )
    return value


def _dns_host(value: str) -> str:
    return "nip.io" if value == "nip.io" else validate.dns_host(value)


def _memory_per_app(value: str) -> str:
    return f"{capacity.memory_per_app(value):g}"


def _image(value: str) -> str:
    # Empty: no image of this kind (Dozzle), or the role's default.
    return validate.image(value) if value else ""


SETTINGS = (
    Setting(
        "dns_host",
        "--dns-host",
        "Domain whose subdomains point at the server (apps at <app>.<domain>); nip.io for a "
        "server saved by IP address.",
        _dns_host,
    ),
    Setting(
        "tls",
        "--tls",
        "Certificates from Let's Encrypt (acme) or Caddy's own CA (internal).",
        validate.tls,
    ),
    Setting(
        "acme_email",
        "--acme-email",
        "E-mail address for Let's Encrypt (else contact_email_on_error of the config).",
        _email,
    ),
    Setting(
        "docker_engine_source",
        "--docker-source",
        "Docker from Docker's apt repository (official) or the distribution's packages.",
        validate.docker_source,
    ),
    Setting(
        capacity.MEMORY_PER_APP_KEY,
        "--memory-per-app",
        "GB of memory each running app is counted with when a new app is placed (default "
        "5, PsyNet's figure); a server whose memory holds no more shares refuses new apps.",
        _memory_per_app,
    ),
    *(
        Setting(
            image.config_key,
            "--" + image.config_key.removeprefix("docker_").replace("_", "-"),
            f"{image.what}.",
            _image,
        )
        for image in service_images.SERVICE_IMAGES
    ),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}
KEYS = frozenset(BY_KEY)
SETTINGS_ORDER = tuple(BY_KEY)


class SettingsProblem(DlgrError):
    """A server setting is unknown or its value is not valid."""


def checked(values: Mapping[str, str], where: str) -> dict[str, str]:
    """`values` with each one checked; raises SettingsProblem naming `where`."""
    settings = {}
    for key, value in values.items():
        if key not in BY_KEY:
            raise SettingsProblem(
                f"{where}: {key} is not a server setting. Server settings: "
                f"{', '.join(sorted(KEYS))}; the experiment's keys go in its config.txt."
            )
        try:
            settings[key] = BY_KEY[key].check(str(value).strip())
        except validate.ValidationError as exc:
            raise SettingsProblem(f"{where}: {exc}" if where else str(exc)) from None
    return settings


def in_dallinger_files(found: Iterable[tuple[Path, Iterable[str]]]) -> str | None:
    """A warning about server settings kept in Dallinger's own config files, which
    Dallinger 12.4 then refuses to load; None when there are none."""
    places = [(path, sorted(keys)) for path, keys in found if keys]
    if not places:
        return None
    where = "; ".join(f"{', '.join(keys)} in {path}" for path, keys in places)
    options = " ".join(f"{BY_KEY[key].option} VALUE" for _, keys in places for key in keys)
    return (
        f"Server settings found in Dallinger's config files ({where}). They are used, but "
        "Dallinger 12.4 refuses to load a config file with keys it does not know. Save "
        f"them with the server (`dlgr-ansible servers set {options}`) or, for every server, "
        f"in ~/{OWN_CONFIG}, and remove them there."
    )
