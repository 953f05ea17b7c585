"""The CLI offers exactly the choices the roles accept (their argument specs), and every
contact e-mail the CLI accepts passes the roles' own check. The roles state these in
their argument specs because plain-Ansible users get the same checks there."""

import re
from pathlib import Path

import pytest
import yaml

from dlgr_ansible import validate

ROLES = Path(__file__).resolve().parents[2] / "roles"


def role_option(role: str, option: str, entry: str = "main") -> dict:
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"][entry]["options"][option]


@pytest.mark.parametrize(
    ("role", "option"),
    [("dallinger_server", "dallinger_server_tls"), ("dallinger_app", "dallinger_app_tls")],
)
def test_tls_modes_agree(role, option):
    assert set(role_option(role, option)["choices"]) == set(validate.TLS_MODES)


def test_docker_sources_agree():
    choices = role_option("docker_engine", "docker_engine_source")["choices"]
    assert set(choices) == set(validate.DOCKER_SOURCES)


@pytest.mark.parametrize(
    "address",
    [
        "lab@example.org",
        "first.last+tag@uni.example.ac.uk",
        "me@x.io",
        "not-an-address",
        "a b@example.org",
        "me@example.org\n",
        'quote"d@example.org',
        "brace{@example.org",
        "two@at@example.org",
    ],
)
def test_every_email_the_cli_accepts_passes_the_roles_check(address):
    defaults = yaml.safe_load((ROLES / "dallinger_common" / "defaults" / "main.yml").read_text())
    role_accepts = re.match(defaults["dallinger_common_email_pattern"], address) is not None
    if validate.is_email(address):
        assert role_accepts, address
