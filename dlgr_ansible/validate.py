"""Checks for every value a researcher types, run before anything touches a server.

Each function returns the normalised value or raises ValidationError with a message
that says what is allowed.
"""

import ipaddress
import re

from dlgr_ansible.errors import DlgrError


class ValidationError(DlgrError):
    """A value given on the command line or in the config is not acceptable."""


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]{0,31}$")
_APP_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_CONFIG_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL_RE = re.compile(r"^[^\s@{}\"']+@[^\s@{}\"']+\.[^\s@{}\"']+$")

# Docker's reference grammar (github.com/distribution/reference, regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$",
    re.ASCII,  # Docker's \w is [A-Za-z0-9_]; Python's takes any letter
)


def host(value: str) -> str:
    """A DNS name or an IPv4/IPv6 address, as given to `--host`."""
    value = (value or "").strip()
    if not value:
        raise ValidationError("The server host is empty. Give a DNS name or an IP address.")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if len(value) > 253 or not _HOSTNAME_RE.fullmatch(value) or value.replace(".", "").isdigit():
        raise ValidationError(
            f"{value!r} is not a valid server host. Give a DNS name (letters, digits, "
            "hyphens and dots, e.g. experiments.example.org) or an IP address."
        )
    return value.rstrip(".").lower()


def user(value: str) -> str:
    """A login name on the server."""
    if not value or not _USER_RE.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid user name. Use 1-32 characters: letters, digits, "
            "'.', '_' and '-', starting with a letter or '_'."
        )
    return value


def port(value: int | str) -> int:
    """A TCP port for SSH."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 65535 or str(value).strip() != str(number):
        raise ValidationError(f"{value!r} is not a valid port. Use a number from 1 to 65535.")
    return number


# Names of the shared stack (compose project, superuser, databases) and of its Dozzle
# site: an app called so would act on them.
RESERVED_APP_NAMES = frozenset({"dallinger", "logs", "postgres", "template0", "template1"})


def app_name(value: str) -> str:
    """An app name: one DNS label, because it becomes `<app>.<dns_host>`."""
    if not value or not _APP_RE.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid app name. Use 1-63 lowercase letters, digits and "
            "hyphens, starting with a letter and not ending with a hyphen (e.g. 'stroop-pilot')."
        )
    if value in RESERVED_APP_NAMES:
        raise ValidationError(
            f"{value!r} is reserved for the server's shared services; choose another app name."
        )
    return value


def dns_host(value: str) -> str:
    """The DNS suffix that apps are served under (`--dns-host`), or `nip.io`."""
    value = (value or "").strip()
    if value.lower() == "localhost":  # a rehearsal server: <app>.localhost is loopback
        return "localhost"
    if len(value) > 253 or not _HOSTNAME_RE.fullmatch(value) or "." not in value.strip("."):
        raise ValidationError(
            f"{value!r} is not a valid DNS host. Give a domain whose subdomains all point "
            "at the server (e.g. experiments.example.org), or 'nip.io'."
        )
    return value.rstrip(".").lower()


def image(value: str) -> str:
    """A Docker image reference such as `ghcr.io/lab/stroop:1.2`."""
    value = (value or "").strip()
    name = value.split("@", 1)[0]
    first, _, rest = name.partition("/")
    # As in Docker: a first component is a registry only with a dot, a port or "localhost".
    registry_like = rest and ("." in first or ":" in first or first == "localhost")
    if (
        not value
        or len(name) > 255
        or not _IMAGE_RE.fullmatch(value)
        or (not registry_like and first != first.lower())
    ):
        raise ValidationError(
            f"{value!r} is not a valid Docker image reference. Use [registry/]name[:tag] "
            "with a lowercase name, e.g. 'ghcr.io/my-lab/stroop:1.0'."
        )
    return value


def image_base_name(value: str | None) -> str:
    """docker_image_base_name: an image name without a tag, which each build adds."""
    if not value:
        raise ValidationError(
            "Set docker_image_base_name in config.txt (e.g. ghcr.io/yourlab/stroop): "
            "the image built from this directory is named after it."
        )
    name = image(value)
    untagged = name.split("@", 1)[0]
    path, slash, last = untagged.rpartition("/")
    untagged = path + slash + last.split(":", 1)[0]  # a registry's port stays
    if untagged != name:
        raise ValidationError(
            f"docker_image_base_name is {name!r}; leave out the tag ({untagged!r}): each "
            "build is tagged with its experiment id."
        )
    return name


def config_key(value: str) -> str:
    """A config key: it becomes an environment variable name in the app's containers."""
    if not value or not _CONFIG_KEY_RE.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid config key. Use letters, digits and '_', "
            "starting with a letter or '_' (e.g. 'recruiter')."
        )
    return value


def config_value(key: str, value: str) -> str:
    """Any text except NUL, which no environment can carry, and carriage returns, which
    compose's env-file format turns into newlines."""
    if "\0" in value:
        raise ValidationError(f"The value of {key!r} contains a NUL character; remove it.")
    if "\r" in value:
        raise ValidationError(
            f"The value of {key!r} contains a carriage return (Windows line ending?); remove it."
        )
    return value


def is_email(value: str) -> bool:
    """Good enough for Let's Encrypt, and safe to write into a Caddyfile."""
    return bool(_EMAIL_RE.fullmatch(value or ""))


# A compose service name (compose-spec: lowercase letters, digits, '.', '_', '-').
_SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
TLS_MODES = ("acme", "internal")
DOCKER_SOURCES = ("official", "distribution")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
# bcrypt looks at the first 72 bytes only: a longer password would match shorter ones.
BCRYPT_MAX_BYTES = 72


def required_app_name(value: str | None) -> str:
    """--app, which commands about one app cannot do without."""
    if not value:
        raise ValidationError("Which app? Give --app NAME (`dlgr-ansible apps` lists them).")
    return app_name(value)


def service_name(value: str) -> str:
    """A compose service name such as `web` or `worker_1`."""
    if not value or len(value) > 63 or not _SERVICE_RE.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid service name. Use lowercase letters, digits, '_', '.' "
            "and '-', starting with a letter or digit (e.g. 'web', 'worker_1', 'clock')."
        )
    return value


def tail_lines(value: int | None) -> int | None:
    """--tail: a number of lines, or None for all of them."""
    if value is not None and value < 0:
        raise ValidationError(f"--tail {value}: give a number of lines, 0 or more.")
    return value


def whole_number(key: str, raw: str | None, default: int, minimum: int) -> int:
    """A config value that counts something (workers, CPU shares); empty means `default`."""
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValidationError(f"{key} is {raw!r}; use a whole number of at least {minimum}.")
    return value


def flag(key: str, raw: str | None) -> bool:
    """A config value that switches something on or off, in Dallinger's words for it."""
    word = (raw or "").strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValidationError(f"{key} is {word!r}; use true or false.")


def tls(value: str) -> str:
    """Where the certificates come from: Let's Encrypt or Caddy's own CA."""
    if value not in TLS_MODES:
        raise ValidationError(
            f"tls is {value!r}; use 'acme' or 'internal' (Let's Encrypt or Caddy's own CA)."
        )
    return value


def docker_source(value: str) -> str:
    """Where the server's Docker packages come from."""
    if value not in DOCKER_SOURCES:
        raise ValidationError(
            f"docker_engine_source is {value!r}; use 'official' (Docker's repository) or "
            "'distribution' (Debian 13 / Ubuntu 24.04 packages)."
        )
    return value


def dozzle_password(value: str) -> str:
    """A password for Dozzle's login: one line that bcrypt hashes whole."""
    if not value or not value.strip():
        raise ValidationError("The Dozzle password is empty; give one with --password.")
    if "\n" in value or "\0" in value:
        raise ValidationError("The Dozzle password cannot contain a line break or NUL.")
    if len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValidationError(
            f"The Dozzle password is too long for bcrypt: {BCRYPT_MAX_BYTES} bytes at most."
        )
    return value
