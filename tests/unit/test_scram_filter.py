"""The role's scram_sha_256 filter against RFC 7677's worked exchange. The role's tasks use
it on every first deploy, which the integration and Molecule tests run against PostgreSQL."""

import base64
import hashlib
import hmac
import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).parents[2] / "roles/dallinger_app/filter_plugins/scram.py"
spec = importlib.util.spec_from_file_location("scram_filter", PLUGIN)
scram = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scram)

# RFC 7677, section 3: user "user", password "pencil".
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
AUTH_MESSAGE = (
    f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={NONCE}"
).encode()
CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def parts(verifier: str):
    method, rest = verifier.split("$", 1)
    head, keys = rest.split("$")
    iterations, salt = head.split(":")
    stored, server = keys.split(":")
    return method, int(iterations), *(base64.b64decode(x) for x in (salt, stored, server))


def test_the_verifier_answers_rfc_7677s_exchange():
    method, iterations, salt, stored_key, server_key = parts(
        scram.scram_sha_256("pencil", salt=SALT)
    )
    assert (method, iterations, salt) == ("SCRAM-SHA-256", 4096, SALT)
    # The server checks a proof by recovering the client key from it with the stored key.
    signature = hmac.digest(stored_key, AUTH_MESSAGE, "sha256")
    client_key = bytes(a ^ b for a, b in zip(CLIENT_PROOF, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert hmac.digest(server_key, AUTH_MESSAGE, "sha256") == SERVER_SIGNATURE


def test_each_verifier_has_its_own_salt_and_never_the_password():
    first, second = (scram.scram_sha_256("Secret123") for _ in range(2))
    assert first != second
    assert parts(first)[2] != parts(second)[2]
    assert len(parts(first)[2]) == 16
    assert "Secret123" not in first


@pytest.mark.parametrize("password", ["", "pässword", "tab\there"])
def test_a_password_saslprep_would_change_is_refused(password):
    with pytest.raises(AnsibleFilterError, match="printable ASCII"):
        scram.scram_sha_256(password)
