"""Fake stand-ins for the machine a command runs on, handed to the code under test.

The real ones (deploy.resolve_name, images.locally_available) ask this machine's
resolver and Docker engine; these answer from fixed lists instead.
"""

import socket

from dlgr_ansible.cli.app import App

# Names a fake resolver knows: what *.localhost resolves to with nss-myhostname, and
# the example domain the tests deploy under.
KNOWN_SUFFIXES = ("localhost", "example.org", "nip.io")


def fake_resolve(hostname: str) -> None:
    """Resolves the test domains only; anything else is unknown, as a resolver says."""
    name = hostname.rstrip(".")
    if not any(name == s or name.endswith("." + s) for s in KNOWN_SUFFIXES):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def fake_resolve_nothing(hostname: str) -> None:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def fake_local_images(present=()):
    """A Docker engine that has exactly the images in `present`."""

    def local_images(names: list[str]) -> list[str]:
        return [name for name in names if name and name in present]

    return local_images


no_local_images = fake_local_images()


def fake_app(**lookups) -> App:
    """The CLI's App with fake lookups, for CliRunner.invoke(obj=...)."""
    lookups.setdefault("resolve", fake_resolve)
    lookups.setdefault("local_images", no_local_images)
    return App(**lookups)
