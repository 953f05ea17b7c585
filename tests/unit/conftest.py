"""Unit tests are hermetic: no DNS lookup, no Docker engine, no server.

Code under test gets fake lookups handed in (tests/unit/fakes.py). Should one reach
the real resolver or Docker engine anyway, the guards below fail that test, so a unit
test cannot pass only on a machine with libnss-myhostname or a running Docker.
"""

import ipaddress
import socket

import docker
import pytest

_real_getaddrinfo = socket.getaddrinfo


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a unit test reached {what}; hand in a fake (tests/unit/fakes.py)")

    return refuse


def _addresses_only(host, *args, **kwargs):
    """IP literals need no resolver (Ansible's import checks one); names are refused."""
    try:
        ipaddress.ip_address(host)
    except (TypeError, ValueError):
        _refuse("the real DNS resolver")()
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_real_lookups(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _addresses_only)
    monkeypatch.setattr(docker, "from_env", _refuse("the local Docker engine"))
