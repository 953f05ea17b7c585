"""Dallinger-style configuration: ~/.dallingerconfig, then ./config.txt, then this tool's
own config file and the server's saved settings (dlgr_ansible.server_settings), then -c
pairs."""

import configparser
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dlgr_ansible import server_settings, validate
from dlgr_ansible.errors import DlgrError

USER_CONFIG_NAME = ".dallingerconfig"
EXPERIMENT_CONFIG_NAME = "config.txt"


class ConfigProblem(DlgrError):
    """A config file cannot be read or lacks a required key."""


@dataclass(frozen=True)
class Config:
    """Merged settings; keys are lowercase, as Dallinger's configparser makes them."""

    values: dict[str, str] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()
    # Server settings found in Dallinger's own files: used, but Dallinger refuses them.
    misplaced: tuple[tuple[Path, tuple[str, ...]], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key.lower(), default)

    def server_pem(self) -> Path:
        raw = (self.get("server_pem") or "").strip()
        if not raw:
            raise ConfigProblem(
                "The server_pem setting is missing. Add the path of your SSH private key to "
                "config.txt or ~/.dallingerconfig, for example:\n"
                "[Parameters]\nserver_pem = ~/.ssh/id_ed25519"
            )
        return Path(raw).expanduser().absolute()

    def acme_email(self) -> str:
        """Let's Encrypt's contact: the server's own, else Dallinger's error contact."""
        return (self.get("acme_email") or self.get("contact_email_on_error") or "").strip()


def read_ini(path: Path) -> dict[str, str]:
    """Keys from every section of an INI file; a later section wins, as in Dallinger."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigProblem(
            f"Cannot read {path}: {exc}. It must be an INI file with [Sections] and "
            "'key = value' lines."
        ) from exc
    values: dict[str, str] = {}
    for section in parser.sections():
        values.update(parser.items(section))
    return values


def load_config(
    home: Path | None = None,
    experiment_dir: Path | None = None,
    overrides: Iterable[tuple[str, str]] = (),
    saved_settings: Mapping[str, str] | None = None,
) -> Config:
    """Merge ~/.dallingerconfig, the experiment's config.txt, this tool's own config file
    (defaults for every server), the settings saved with the server and `-c KEY VALUE`
    pairs; later ones win."""
    home = home if home is not None else Path.home()
    experiment_dir = experiment_dir if experiment_dir is not None else Path.cwd()
    values: dict[str, str] = {}
    sources, misplaced = [], []
    for path in (home / USER_CONFIG_NAME, experiment_dir / EXPERIMENT_CONFIG_NAME):
        if path.is_file():
            found = read_ini(path)
            values.update(found)
            sources.append(path)
            if keys := tuple(sorted(server_settings.KEYS & found.keys())):
                misplaced.append((path, keys))
    own = home / server_settings.OWN_CONFIG
    if own.is_file():
        values.update(server_settings.checked(read_ini(own), str(own)))
        sources.append(own)
    values.update(saved_settings or {})
    for key, value in overrides:
        validate.config_key(key)
        values[key.lower()] = validate.config_value(key, value)
    return Config(values=values, sources=tuple(sources), misplaced=tuple(misplaced))
