"""Checks on the SSH private key (`server_pem`) before any connection is tried."""

import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning

from dlgr_ansible.config import Config
from dlgr_ansible.errors import DlgrError

MIN_RSA_BITS = 2048


class KeyProblem(DlgrError):
    """The configured SSH key cannot be used."""


@dataclass(frozen=True)
class KeyInfo:
    path: Path
    kind: str  # "ed25519", "rsa", "ecdsa"
    bits: int


def check_private_key(path: Path) -> KeyInfo:
    """Return what kind of key `path` holds, or raise KeyProblem saying how to fix it."""
    path = path.expanduser()
    if not path.is_file():
        raise KeyProblem(
            f"SSH key file not found: {path}\n"
            "Check the server_pem setting in config.txt or ~/.dallingerconfig."
        )
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyProblem(
            f"SSH key {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
            f"SSH refuses such keys. Run: chmod 600 {path}"
        )
    key = _load(path)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return KeyInfo(path, "ed25519", 256)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return KeyInfo(path, "ecdsa", key.curve.key_size)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyProblem(
                f"SSH key {path} is an RSA key of only {key.key_size} bits; servers refuse "
                f"RSA keys under {MIN_RSA_BITS} bits. Create an ed25519 key with "
                "`ssh-keygen -t ed25519`."
            )
        return KeyInfo(path, "rsa", key.key_size)
    if _is_dsa(key):
        raise KeyProblem(
            f"SSH key {path} is a DSA key. OpenSSH no longer accepts DSA keys; create an "
            "ed25519 key with `ssh-keygen -t ed25519` and add its .pub to the server."
        )
    raise KeyProblem(
        f"SSH key {path} is of a kind dlgr-ansible does not support. "
        "Use an ed25519, RSA (2048 bits or more) or ECDSA key."
    )


def configured_key(config: Config) -> Path:
    """The checked `server_pem`: every SSH connection uses it."""
    return check_private_key(config.server_pem()).path


def _load(path: Path):
    data = path.read_bytes()
    if b"OPENSSH PRIVATE KEY" in data:
        loader = serialization.load_ssh_private_key
    else:
        loader = serialization.load_pem_private_key
    try:
        return loader(data, password=None)
    except TypeError as exc:  # cryptography's signal for "needs a password"
        raise KeyProblem(
            f"SSH key {path} is protected by a passphrase, and deploys run SSH without "
            "prompting. Use a key without a passphrase for your servers "
            "(`ssh-keygen -t ed25519 -N ''`)."
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyProblem(
            f"{path} is not an SSH private key in PEM or OpenSSH format. "
            "Point server_pem at a private key file (not the .pub file)."
        ) from exc


def _is_dsa(key) -> bool:
    # cryptography 47+ warns whenever DSA is named; here it is named only to be refused.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return isinstance(key, dsa.DSAPrivateKey)


def public_key_line(path: Path) -> str:
    """The OpenSSH public key ("type base64") of a checked private key file."""
    check_private_key(path)
    public = _load(path.expanduser()).public_key()
    return public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def create_key(path: Path) -> None:
    """Write a new ed25519 private key (OpenSSH format, 0600, no passphrase) and its .pub."""
    key = ed25519.Ed25519PrivateKey.generate()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.with_name(path.name + ".pub").write_bytes(public + b" dlgr-ansible\n")
