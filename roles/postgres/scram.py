"""SCRAM-SHA-256 verifiers as PostgreSQL stores them (RFC 5802/7677, pg's scram-common.c).

Timestack sends PostgreSQL the verifier, never the password, and decides whether a role's
password is current by recomputing the verifier with the stored salt and iteration count:
the host is only ever asked for the salt, the count and a SHA-256 fingerprint of the stored
verifier, so neither the password nor the verifier appears in facts or output.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep

from scramp import ScramException
from scramp.core import saslprep

ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16


def password_bytes(password: str) -> bytes:
    """What PostgreSQL and libpq feed to PBKDF2 (pg_saslprep, src/common/saslprep.c): a pure
    ASCII password as it is; else its SASLprep (RFC 4013, scramp's implementation), with
    PostgreSQL's reading of the one character in two mapping tables (U+200B: a space, not
    nothing); and where SASLprep refuses the password (code points unassigned in Unicode 3.2
    such as emoji, mixed-direction text, control characters), the raw UTF-8 bytes."""
    if password.isascii():
        return password.encode()
    spaced = "".join(" " if stringprep.in_table_c12(char) else char for char in password)
    try:
        return str(saslprep(spaced)).encode()
    except ScramException:
        return password.encode()


def verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as in pg_authid."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password_bytes(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def fingerprint(stored: str) -> str:
    return hashlib.sha256(stored.encode()).hexdigest()


def matches(password: str, iterations: int, salt_b64: str, stored_fingerprint: str) -> bool:
    """Whether the stored verifier (known by salt, count and fingerprint) is for `password`."""
    try:
        salt = base64.b64decode(salt_b64, validate=True)
    except ValueError:
        return False
    candidate = verifier(password, salt=salt, iterations=iterations)
    return hmac.compare_digest(fingerprint(candidate), stored_fingerprint)
