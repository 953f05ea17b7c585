"""scram_sha_256: the SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802,
RFC 7677), made on the controller. `CREATE ROLE ... PASSWORD '<verifier>'` then never
carries the password, so a statement PostgreSQL logs when it fails leaks nothing usable."""

import base64
import hashlib
import hmac
import secrets

from ansible.errors import AnsibleFilterError

# PostgreSQL's own default (scram_iterations).
ITERATIONS = 4096
SALT_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scram_sha_256(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    # PostgreSQL runs the password through SASLprep first; for printable ASCII that is the
    # identity, and this role's passwords are letters and digits.
    if not password or not password.isascii() or not password.isprintable():
        raise AnsibleFilterError("scram_sha_256 takes a non-empty printable ASCII password")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


class FilterModule:
    def filters(self):
        return {"scram_sha_256": scram_sha_256}
