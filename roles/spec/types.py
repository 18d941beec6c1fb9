"""Validated scalar types used by roles.spec (sizes, ports, names, paths, networks), and the
base model of its sections.

Every check raises ValueError whose message is the "expected …" phrase shown to the user,
so a failed value reads e.g. `postgres.port: got 0; expected an integer 1-65535`.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import zoneinfo
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from roles import units

SIZE_EXPECTED = "a size like 4GiB, 512MB or 65536 (bytes); GB and GiB both mean 1024^3"


def parse_size(value: object) -> int:
    """Bytes from an int or a string like "4GiB", "512MB", "64kB", "1.5TiB" or "4096".

    Units are binary whichever spelling is used (GB = GiB = 1024^3), as in PostgreSQL.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return units.parse_size(value)
        except ValueError:
            pass
    raise ValueError(SIZE_EXPECTED)


def _matching(regex: str, expected: str) -> AfterValidator:
    """Validator: the whole string matches `regex`, else `expected` is the error text."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(expected)
        return value

    return AfterValidator(check)


def _checked(predicate: Callable[[str], bool], expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not predicate(value):
            raise ValueError(expected)
        return value

    return AfterValidator(check)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _cidr(value: str) -> str:
    """A network in CIDR form, host bits zero; a bare address becomes /32 or /128."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        hint = ""
        if "host bits set" in str(exc):
            hint = (
                f" (host bits are set; did you mean {ipaddress.ip_network(value, strict=False)}?)"
            )
        raise ValueError(f"a network in CIDR form like 10.20.0.0/24{hint}") from None


# False while the verify suite reads an inventory: it only reads, and an auditor running it
# has SSH access but no application passwords.
SECRETS_REQUIRED: ContextVar[bool] = ContextVar("SECRETS_REQUIRED", default=True)


def _env_is_set(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError("an environment variable name like TIMESTACK_PG_APP_PASSWORD")
    if SECRETS_REQUIRED.get() and not os.environ.get(name):
        raise ValueError(f"environment variable {name} to be set and non-empty where pyinfra runs")
    return name


def _env_name(name: str) -> str:
    """Only the shape of a variable name: whether it must be set depends on other fields
    (kafka.security), which the cross-field rules of roles.spec.kafka_security check."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError("an environment variable name like TIMESTACK_KAFKA_INGEST_PASSWORD")
    return name


def _timezone(value: str) -> str:
    shape = r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}"
    known = zoneinfo.available_timezones()  # empty when the controller has no tz database
    if not re.fullmatch(shape, value) or (known and value not in known):
        raise ValueError("an IANA time zone name like UTC, Europe/Berlin or America/New_York")
    return value


def _kafka_cluster_id(value: str) -> str:
    """Kafka's Uuid.toString(): 16 bytes, base64url without padding (22 characters)."""
    try:
        ok = (
            len(value) == 22
            and base64.urlsafe_b64encode(base64.urlsafe_b64decode(value + "=="))
            .decode()
            .rstrip("=")
            == value
        )
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            "a 22-character Kafka cluster id as printed by `kafka-storage.sh random-uuid`"
        )
    return value


def _kafka_version(value: str) -> str:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", value)
    if not match or (int(match[1]), int(match[2])) < (3, 3):
        raise ValueError("a Kafka release like 3.9.1 (3.3 or newer: Timestack runs KRaft)")
    return value


def _kafka_property(value: object) -> object:
    """Kafka config values are strings; accept ints/bools from Python data as Kafka spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _hint(expected: str) -> Any:
    """Field metadata: the "expected …" text for type errors on this type."""
    return Field(json_schema_extra={"x-expected": expected})


Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0), _hint(SIZE_EXPECTED)]
Port = Annotated[int, Field(ge=1, le=65535)]
PgIdent = Annotated[
    str,
    _matching(
        r"[a-z_][a-z0-9_$]{0,62}",
        "a lowercase PostgreSQL name: a letter or _, then letters, digits or _ (at most 63)",
    ),
]
HbaName = Annotated[
    str,
    _matching(
        r"\+?[a-z_][a-z0-9_$]*(,\+?[a-z_][a-z0-9_$]*)*",
        "a name, a comma list of names, +group, or a keyword: all, sameuser, samerole, replication",
    ),
]
AbsPath = Annotated[
    str,
    _checked(
        lambda p: PurePosixPath(p).is_absolute() and ".." not in PurePosixPath(p).parts,
        "an absolute path like /var/lib/kafka/data (no ..)",
    ),
]
EnvVar = Annotated[str, AfterValidator(_env_is_set)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Cidr = Annotated[str, AfterValidator(_cidr)]
IpAddress = Annotated[str, _checked(_is_ip, "an IP address like 10.20.0.5")]
PgListenAddress = Annotated[
    str,
    _checked(lambda v: v in ("localhost", "*") or _is_ip(v), 'an IP address, "localhost" or "*"'),
]
ListenAddress = Annotated[
    str, _checked(lambda v: v == "*" or _is_ip(v), 'an IP address like 127.0.0.1, or "*"')
]
Hostname = Annotated[
    str,
    _checked(
        lambda v: (
            _is_ip(v)
            or re.fullmatch(
                r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*", v
            )
            is not None
        ),
        "a host name like kafka1.example.net, or an IP address",
    ),
]
Timezone = Annotated[str, AfterValidator(_timezone)]
DebPackage = Annotated[
    str, _matching(r"[a-z0-9][a-z0-9+.-]+", "a Debian package name like chrony (no version pin)")
]
SysctlKey = Annotated[
    str, _matching(r"[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+", "a dotted sysctl name like vm.swappiness")
]
GucName = Annotated[
    str,
    _matching(
        r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?",
        "a PostgreSQL setting name like work_mem or timescaledb.max_background_workers",
    ),
]
KafkaProperty = Annotated[
    str, _matching(r"[A-Za-z0-9][A-Za-z0-9._-]*", "a Kafka property name like num.io.threads")
]
KafkaValue = Annotated[
    str,
    BeforeValidator(_kafka_property),
    _hint("a value as Kafka spells it: a string, a number or true/false"),
]
TopicName = Annotated[
    str,
    _checked(
        lambda v: v not in (".", "..") and re.fullmatch(r"[A-Za-z0-9._-]{1,249}", v) is not None,
        'a Kafka topic name: letters, digits, ".", "_", "-" (1-249 chars, not "." or "..")',
    ),
]
# A SCRAM user name: no "=" or "," (Kafka escapes them, and certificate principals are
# distinguished names full of both), so no declared name can ever equal a broker's.
KafkaUser = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
        'a principal name of letters, digits, ".", "_", "-" (at most 64 chars)',
    ),
]
# A consumer group id, or a prefix of them ending in "*"; "*" alone is every group.
KafkaGroupPattern = Annotated[
    str,
    _matching(
        r"\*|[A-Za-z0-9._-]{1,200}\*?",
        'a consumer group id, a prefix ending in "*" (timestack-*), or "*" for every group',
    ),
]
# A topic name, or a prefix of topic names ending in "*" (prefixed ACLs).
TopicPattern = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9._-]{1,249}\*?",
        'a Kafka topic name, or a prefix of topic names ending in "*" (timestack-test-*)',
    ),
]
KafkaClusterId = Annotated[str, AfterValidator(_kafka_cluster_id)]
KafkaVersion = Annotated[str, AfterValidator(_kafka_version)]
Sha512 = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    _matching(r"[0-9a-f]{128}", "a SHA-512 checksum: 128 hexadecimal characters"),
]
ReleaseVersion = Annotated[
    str, _matching(r"\d+(\.\d+){1,3}", "a release version like 1.0.1 (digits and dots)")
]
LATEST = "latest"
PIN_EXPECTED = (
    "a Debian version as apt-cache policy shows it (1.24.1-1), a prefix ending in * "
    "(1.24*) or latest"
)
# Debian policy: [epoch:]upstream[-revision]; the upstream part starts with a digit.
_PIN = re.compile(r"(\d+:)?\d[A-Za-z0-9.+~:-]*\*?")


def check_pin(value: str) -> str:
    """`value` if it is a package pin (roles/pins.py), else ValueError saying what is allowed."""
    if value == LATEST or _PIN.fullmatch(value):
        return value
    hint = ""
    if value.lower() == LATEST:
        hint = " (latest in lowercase)"
    elif value.startswith(("=", "<", ">", "~", "^")):
        hint = " (no comparison operators: apt installs one version)"
    elif "*" in value:
        hint = " (* only at the end, after the leading digits)"
    raise ValueError(PIN_EXPECTED + hint)


# A package version of host data: exact, a prefix ending in *, or latest (roles/pins.py).
PackageVersion = Annotated[str, AfterValidator(check_pin)]
PgDuration = Annotated[
    str,
    _matching(r"\d+\s*(us|ms|s|min|h|d)?", "a PostgreSQL duration like 5min, 10s or 500ms"),
]
OnCalendar = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9*.,:/~ -]{1,100}",
        'a systemd OnCalendar expression like "Sun *-*-* 01:00:00" or "daily"',
    ),
]
StanzaName = Annotated[
    str, _matching(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", "a name of letters, digits, _ or -")
]
S3Bucket = Annotated[
    str,
    _matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name (3-63 lowercase chars)"),
]


class SpecModel(BaseModel):
    """Base of every section model: unknown keys are errors, and a parsed spec is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
