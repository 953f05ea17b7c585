"""Real keys generated with the cryptography library, checked as `server_pem` would be."""

import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from dlgr_ansible.sshkeys import KeyProblem, check_private_key


def _write(tmp_path, key, fmt, name="key", mode=0o600, password=None):
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, encryption))
    path.chmod(mode)
    return path


OPENSSH = serialization.PrivateFormat.OpenSSH
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


def test_ed25519_openssh(tmp_path):
    info = check_private_key(_write(tmp_path, ed25519.Ed25519PrivateKey.generate(), OPENSSH))
    assert info.kind == "ed25519"


def test_a_good_key_is_checked_without_a_warning(tmp_path):
    # A warning lands on stdout once Dallinger's build code is imported (it replaces
    # warnings.showwarning), where --json's document goes.
    path = _write(tmp_path, ed25519.Ed25519PrivateKey.generate(), OPENSSH)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_private_key(path)
    assert [str(w.message) for w in caught] == []


def test_rsa_pem_2048(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert check_private_key(_write(tmp_path, key, TRADITIONAL)).bits == 2048


def test_ecdsa_pkcs8(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    assert check_private_key(_write(tmp_path, key, PKCS8)).kind == "ecdsa"


def test_short_rsa_refused(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyProblem, match="only 1024 bits"):
        check_private_key(_write(tmp_path, key, OPENSSH))


def test_dsa_refused(tmp_path):
    key = dsa.generate_private_key(key_size=1024)
    with pytest.raises(KeyProblem, match="DSA key"):
        check_private_key(_write(tmp_path, key, TRADITIONAL))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_readable_by_others_says_chmod(tmp_path, mode):
    path = _write(tmp_path, ed25519.Ed25519PrivateKey.generate(), OPENSSH, mode=mode)
    with pytest.raises(KeyProblem, match=f"chmod 600 {path}"):
        check_private_key(path)


def test_missing_file(tmp_path):
    with pytest.raises(KeyProblem, match="not found"):
        check_private_key(tmp_path / "nope")


def test_public_key_instead_of_private(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    path = tmp_path / "id.pub"
    path.write_bytes(
        key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    path.chmod(0o600)
    with pytest.raises(KeyProblem, match="not an SSH private key"):
        check_private_key(path)


def test_passphrase_protected(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = _write(tmp_path, key, PKCS8, password=b"secret")
    with pytest.raises(KeyProblem, match="passphrase"):
        check_private_key(path)
