"""SCRAM principals and their ACLs as pure data: who host data (and Timestack itself) wants,
what the cluster has, the plan that makes them equal, and the release's tools to apply it.

What the cluster has is read with the release's own tools (Debian's librdkafka binding has
no ACL or SCRAM admin calls before confluent-kafka 1.9 / 2.2): `kafka-configs.sh --describe
--entity-type users` names the users with SCRAM credentials, `kafka-acls.sh --list` every
ACL. A password cannot be read back, so the reconciling broker keeps one record per
principal it manages, `/etc/kafka/principals/<name>.fingerprint` (root, 0600): a PBKDF2 of
the password salted with the cluster id. A record that differs from the wanted one sets the
password again; a record whose principal host data no longer declares removes that
principal's credential, its ACLs and the record. ACLs are only ever added or removed for
principals Timestack manages (declared, derived, or recorded), never anyone else's.
No pyinfra import.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from roles.kafka_clients import INGEST_PRINCIPAL, LAG_PRINCIPAL, SCRAM_MECHANISM

RECORDS_DIR = "/etc/kafka/principals"
FINGERPRINT_ITERATIONS = 200_000

Resource = Literal["TOPIC", "GROUP"]
Pattern = Literal["LITERAL", "PREFIXED"]


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW entry for a SCRAM user, as kafka-acls.sh lists it."""

    principal: str  # the SCRAM user name (User:<principal>)
    resource: Resource
    name: str
    pattern: Pattern
    operation: str  # READ, WRITE, DESCRIBE …
    host: str = "*"
    permission: str = "ALLOW"

    def describe(self) -> str:
        prefix = " (prefix)" if self.pattern == "PREFIXED" else ""
        return f"{self.principal}: {self.operation} on {self.resource.lower()} {self.name}{prefix}"


@dataclass(frozen=True)
class Principal:
    """A SCRAM user Timestack manages. The password never appears in repr or a summary."""

    name: str
    password: str = field(repr=False)
    acls: frozenset[Acl]


def _resource(pattern: str) -> tuple[str, Pattern]:
    """`name` → literal; `prefix*` → prefixed; `*` → Kafka's literal wildcard (every one)."""
    if pattern != "*" and pattern.endswith("*"):
        return pattern[:-1], "PREFIXED"
    return pattern, "LITERAL"


def acls_for(
    name: str, produce: Iterable[str], consume: Iterable[str], groups: Iterable[str]
) -> frozenset[Acl]:
    """WRITE+DESCRIBE on the topics it produces to, READ+DESCRIBE on those it consumes,
    READ on its consumer groups (what joining, fetching and committing offsets need)."""
    acls = set()
    for topics, operations in ((produce, ("WRITE", "DESCRIBE")), (consume, ("READ", "DESCRIBE"))):
        for topic in topics:
            resource, pattern = _resource(topic)
            acls |= {Acl(name, "TOPIC", resource, pattern, op) for op in operations}
    for group in groups:
        resource, pattern = _resource(group)
        acls.add(Acl(name, "GROUP", resource, pattern, "READ"))
    return frozenset(acls)


def ingest_principal(password: str, topics: Iterable[str], groups: Iterable[str]) -> Principal:
    """The ingest writers: they consume the topics of the spec's ingest: blocks in their
    consumer group, ingest.group_id (roles/ingest/config.py)."""
    return Principal(INGEST_PRINCIPAL, password, acls_for(INGEST_PRINCIPAL, (), topics, groups))


def lag_principal(password: str) -> Principal:
    """The lag collector (roles/monitoring/kafka_lag.py): lists every group, reads committed
    offsets and high watermarks: DESCRIBE on every topic and group, nothing more."""
    return Principal(
        LAG_PRINCIPAL,
        password,
        frozenset(
            Acl(LAG_PRINCIPAL, resource, "*", "LITERAL", "DESCRIBE")
            for resource in ("TOPIC", "GROUP")
        ),
    )


@functools.cache  # each broker's run asks for the same few, and each costs 200,000 rounds
def fingerprint(password: str, salt: str) -> str:
    """The record kept for a principal: PBKDF2-HMAC-SHA256 of its password, salted with the
    cluster id and the name; enough to tell a changed password, slow to guess from."""
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), salt.encode(), FINGERPRINT_ITERATIONS
    ).hex()
    return f"pbkdf2-sha256:{FINGERPRINT_ITERATIONS}:{digest}\n"


APPLIED_RECORD = f"{RECORDS_DIR}/applied.state"


def applied_record(wanted: Sequence[Principal], salt: str) -> str:
    """What was last applied, as a record: each principal with its fingerprint's digest and
    every ACL Timestack gave. A run whose wanted record is the one on the broker reads nothing
    more (no JVM): drift made by hand is the verify suite's to report (`differences`)."""
    lines = [
        f"principal {p.name} {record_sha1(fingerprint(p.password, f'{salt}:{p.name}'))}"
        for p in sorted(wanted, key=lambda p: p.name)
    ]
    lines += sorted(acl.describe() for p in wanted for acl in p.acls)
    return "\n".join(lines) + "\n"


def record_sha1(record: str) -> str:
    """What the records fact reports for a record file: its SHA-1 (never its content)."""
    return hashlib.sha1(record.encode(), usedforsecurity=False).hexdigest()


def _properties_escape(value: str) -> str:
    """A value for java.util.Properties.load (ISO-8859-1): backslashes, line breaks, a leading
    space and every non-ASCII character escaped, so the password arrives as written."""
    out = []
    for index, char in enumerate(value):
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[char])
        elif char == " " and index == 0:
            out.append("\\ ")
        elif code < 0x20 or code > 0x7E:
            encoded = char.encode("utf-16-be")
            out += [f"\\u{encoded[i : i + 2].hex()}" for i in range(0, len(encoded), 2)]
        else:
            out.append(char)
    return "".join(out)


def credential_file(password: str) -> str:
    """The --add-config-file of kafka-configs.sh setting a SCRAM credential (the bracketed
    `[password=…]` form is only for --add-config; a file takes the bare value)."""
    return f"{SCRAM_MECHANISM}=password={_properties_escape(password)}\n"


@dataclass(frozen=True)
class Access:
    """What the cluster has: SCRAM users and every ACL of a User principal."""

    status: Literal["ok", "absent", "unreachable"]
    users: frozenset[str] = frozenset()
    acls: frozenset[Acl] = frozenset()
    error: str = ""


_USER = re.compile(r"SCRAM credential configs for user-principal '([^']+)' are (.*)")
_RESOURCE = re.compile(
    r"Current ACLs for resource `ResourcePattern\(resourceType=(\w+), name=(.*), "
    r"patternType=(\w+)\)`:"
)
_ENTRY = re.compile(
    r"\(principal=User:([^,]+), host=([^,]+), operation=(\w+), permissionType=(\w+)\)"
)


def parse_users(text: str) -> frozenset[str]:
    """Users with a SCRAM-SHA-512 credential, from `kafka-configs.sh --describe
    --entity-type users` ("SCRAM credential configs for user-principal 'x' are
    SCRAM-SHA-512=iterations=4096")."""
    found = set()
    for line in text.splitlines():
        match = _USER.search(line)
        if match and SCRAM_MECHANISM in match[2]:
            found.add(match[1])
    return frozenset(found)


def parse_acls(text: str) -> frozenset[Acl]:
    """ALLOW entries of User principals on topics and groups, from `kafka-acls.sh --list`.
    Other resource types, DENY entries and other principal types are never Timestack's."""
    found, resource = set(), None
    for line in text.splitlines():
        head = _RESOURCE.search(line)
        if head:
            resource = (head[1], head[2], head[3])
            continue
        entry = _ENTRY.search(line)
        if entry and resource and resource[0] in ("TOPIC", "GROUP") and entry[4] == "ALLOW":
            kind, name, pattern = resource
            if pattern in ("LITERAL", "PREFIXED"):
                found.add(Acl(entry[1], kind, name, pattern, entry[3], entry[2]))  # type: ignore[arg-type]
    return frozenset(found)


def parse_access(output: Sequence[str]) -> Access:
    """The access fact's answer: `timestack:absent`, or two sections (`### users`,
    `### acls`) each followed by the tool's output and `### rc N`."""
    if list(output) == ["timestack:absent"]:
        return Access("absent")
    sections: dict[str, list[str]] = {}
    codes: dict[str, int] = {}
    current = ""
    for line in output:
        if line.startswith("### rc "):
            codes[current] = int(line.removeprefix("### rc ").strip() or 1)
        elif line.startswith("### "):
            current = line.removeprefix("### ").strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    failed = [name for name in ("users", "acls") if codes.get(name, 1) != 0]
    if failed:
        detail = " ".join(" ".join(sections.get(name, []))[-400:] for name in failed)
        return Access("unreachable", error=f"reading {' and '.join(failed)} failed: {detail}")
    return Access(
        "ok",
        parse_users("\n".join(sections["users"])),
        parse_acls("\n".join(sections["acls"])),
    )


@dataclass(frozen=True)
class AccessPlan:
    set_password: tuple[tuple[str, str], ...] = ()  # (name, why): new or changed
    remove_users: tuple[str, ...] = ()
    add_acls: tuple[Acl, ...] = ()
    remove_acls: tuple[Acl, ...] = ()
    forget: tuple[str, ...] = ()  # records of principals no longer managed

    @property
    def empty(self) -> bool:
        return not (
            self.set_password or self.remove_users or self.add_acls or self.remove_acls
            or self.forget
        )  # fmt: skip

    def summary(self) -> list[str]:
        lines = [f"principal {name}: set its password ({why})" for name, why in self.set_password]
        lines += [f"principal {name}: remove its credential" for name in self.remove_users]
        lines += [f"allow {acl.describe()}" for acl in self.add_acls]
        lines += [f"revoke {acl.describe()}" for acl in self.remove_acls]
        lines += [f"principal {name}: forget its record" for name in self.forget]
        return lines


def plan(
    access: Access, wanted: Sequence[Principal], records: Mapping[str, str], salt: str
) -> AccessPlan:
    """What makes the cluster's principals and ACLs match `wanted`. `records` are the record
    files on the reconciling broker ({name: SHA-1 of the file}); `salt` the cluster id."""
    names = {p.name for p in wanted}
    managed = names | set(records)
    set_password = []
    for principal in wanted:
        want = record_sha1(fingerprint(principal.password, f"{salt}:{principal.name}"))
        if principal.name not in access.users:
            set_password.append((principal.name, "new"))
        elif records.get(principal.name) != want:
            why = "changed" if principal.name in records else "no record of it here"
            set_password.append((principal.name, why))
    wanted_acls = frozenset().union(*(p.acls for p in wanted)) if wanted else frozenset()
    return AccessPlan(
        set_password=tuple(set_password),
        remove_users=tuple(sorted(n for n in records if n not in names and n in access.users)),
        add_acls=tuple(sorted(wanted_acls - access.acls)),
        remove_acls=tuple(
            sorted(a for a in access.acls if a.principal in managed and a not in wanted_acls)
        ),
        forget=tuple(sorted(n for n in records if n not in names)),
    )


def differences(access: Access, wanted: Sequence[Principal]) -> list[str]:
    """What the verify suite can tell without passwords or records: missing users and ACLs,
    and ACLs of these principals that host data does not give."""
    names = {p.name for p in wanted}
    pending = plan(access, wanted, {}, "")
    lines = [
        f"principal {n}: no SCRAM credential" for n, why in pending.set_password if why == "new"
    ]
    lines += [f"missing: {acl.describe()}" for acl in pending.add_acls]
    lines += [
        f"not declared: {acl.describe()}" for acl in pending.remove_acls if acl.principal in names
    ]
    return lines


def _acl_calls(
    acls: Iterable[Acl],
) -> dict[tuple[str, Pattern, tuple[str, ...]], list[tuple[Resource, str]]]:
    """The ACLs one kafka-acls.sh call makes: the tool grants each of its principals every
    operation on every resource it names, so one call per principal, pattern type and set of
    operations, naming each resource with that set (each call starts a JVM)."""
    per_resource: dict[tuple[str, Pattern, Resource, str], list[str]] = {}
    for acl in sorted(acls):
        key = (acl.principal, acl.pattern, acl.resource, acl.name)
        per_resource.setdefault(key, []).append(acl.operation)
    calls: dict[tuple[str, Pattern, tuple[str, ...]], list[tuple[Resource, str]]] = {}
    for (principal, pattern, resource, name), operations in per_resource.items():
        calls.setdefault((principal, pattern, tuple(operations)), []).append((resource, name))
    return calls


def acl_commands(pending: AccessPlan, tool: Sequence[str]) -> list[list[str]]:
    """kafka-acls.sh argument lists (`tool`: the script, --bootstrap-server, --command-config)
    that add and revoke the plan's ACLs (`_acl_calls`)."""
    commands = []
    for action, acls in (("--add", pending.add_acls), ("--remove", pending.remove_acls)):
        for (principal, pattern, operations), resources in _acl_calls(acls).items():
            command = [*tool, action, *(["--force"] if action == "--remove" else [])]
            command += ["--allow-principal", f"User:{principal}"]
            for operation in operations:
                command += ["--operation", operation.capitalize()]
            for resource, name in resources:
                command += [f"--{resource.lower()}", name]
            command += ["--resource-pattern-type", pattern.lower()]
            commands.append(command)
    return commands


def remove_user_command(name: str, tool: Sequence[str]) -> list[str]:
    """kafka-configs.sh arguments deleting a user's SCRAM credential."""
    return [*tool, "--alter", "--entity-type", "users", "--entity-name", name,
            "--delete-config", SCRAM_MECHANISM]  # fmt: skip


def set_password_command(name: str, credential_path: str, tool: Sequence[str]) -> list[str]:
    """kafka-configs.sh arguments setting a user's credential from a root-only file: the
    password is never on a command line."""
    return [*tool, "--alter", "--entity-type", "users", "--entity-name", name,
            "--add-config-file", credential_path]  # fmt: skip
