"""SCRAM verifiers against ones PostgreSQL 17.12 (Debian trixie) stored itself, made with
`SET password_encryption = 'scram-sha-256'; CREATE ROLE kat PASSWORD '<password>'` and read
from pg_authid.rolpassword: the role decides "password current" by recomputing exactly these."""

from __future__ import annotations

import base64

import pytest

from roles.postgres import scram

KNOWN_ANSWERS = [
    (  # ASCII: hashed as it is
        "correct horse battery staple",
        "SCRAM-SHA-256$4096:Qk14xLsyqeOhpUX/Gc0Udw==$mafBAn7BOR8KEc367N/sL6h1HFXKsS3Ty2BHd3SAprw="
        ":N0C72kHEvmpV7OaDtakTDsYeH8gV1VCk/wLbsZurwmI=",
    ),
    (  # SASLprep: soft hyphen dropped, no-break space and U+200B to spaces, NFKC (fi, IX)
        "Gr\u00fc\u00ad\u00dfe\u00a0\ufb01x\u200b\u2168",
        "SCRAM-SHA-256$4096:g6+XBCKBnZwE9E7aZqEC7Q==$DULHSEyTUvxp6+eyNe3f6xabbunOZHBKVwG7EfMqo4o="
        ":ymziiDQ2D4/onMqlza4dLOPN1AAsUO/ImdIdYxu8wdo=",
    ),
    (  # SASLprep maps the soft hyphen to nothing (NFKC alone keeps it)
        "a\u00adb",
        "SCRAM-SHA-256$4096:0DYS/8B/FhuKMKVvDhOpHQ==$oP/eXIrTHgrfmgsYJf5sj4KVFRG+s645kzH6RHRom6Y="
        ":+21e4+DiXQCZDb7qb+fZ1CZygcY0ikZ258g0gs43Rdk=",
    ),
    (  # U+200B is in both C.1.2 and B.1: PostgreSQL makes it a space
        "a\u200bb",
        "SCRAM-SHA-256$4096:UgjITVXGPoCUZ0wkLLQllg==$urO1u3G6LJ+q5cKTcofDNwLdYuCCqoB9glskPqsvBzI="
        ":DC+7FY46TKJ+9i4TvwxmF/LzX72MIPYvNSWo5Raxaq0=",
    ),
    (  # an emoji is unassigned in Unicode 3.2: SASLprep refuses, PostgreSQL hashes raw bytes
        "\ufb01\U0001f600",
        "SCRAM-SHA-256$4096:tlusiwxniWwxXtRHJkHnLQ==$pAkpL0eJjEfCvf+GKIAs1c2ChIiBLIlHgG9vGfwq+LA="
        ":vLP7mlCrcd0e+s5YNSFG/RogM3e35Ww6PB2TDUX53Ws=",
    ),
    (  # mixed-direction text fails SASLprep's bidi rule: raw bytes too
        "\ufb01a\u05d0",
        "SCRAM-SHA-256$4096:VlUFQVxjbMBe2fXic4cIzg==$yxwplLK7eG3ANIMdWMBp+jiweXB+T0+DAwOSodZSOVg="
        ":CpbMMnM7Y3w3nDhVunvCvug8B9Agpg7O6uSyx0RcebM=",
    ),
]


def _salt(stored: str) -> str:
    return stored.split("$")[1].split(":")[1]


@pytest.mark.parametrize(("password", "stored"), KNOWN_ANSWERS)
def test_verifier_recomputes_what_postgresql_stored(password: str, stored: str) -> None:
    salt = base64.b64decode(_salt(stored))
    assert scram.verifier(password, salt=salt, iterations=4096) == stored


@pytest.mark.parametrize(("password", "stored"), KNOWN_ANSWERS)
def test_matches_accepts_the_password_postgresql_stored(password: str, stored: str) -> None:
    fingerprint = scram.fingerprint(stored)
    assert scram.matches(password, 4096, _salt(stored), fingerprint)
    assert not scram.matches(password + "x", 4096, _salt(stored), fingerprint)
