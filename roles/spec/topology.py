"""Streaming replication across the inventory: which database host is a standby of which.

A standby names its primary in `postgres.upstream` (an inventory name). One level only: a
standby's upstream is a primary in group timescaledb, never another standby (no cascades,
so no chains or cycles), and it runs the same PostgreSQL major version. A primary with
standbys declares the role they stream as (`postgres.replication.role`). A standby restores
from its primary's pgBackRest repository, so both name the same stanza and repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from roles.spec.backup import BackupSpec
from roles.spec.postgres import PostgresSpec

HostProblem = tuple[str, str, str, str]  # host, field, got, expected


class DatabaseHost(Protocol):
    """What these rules read of a host (roles.spec.checks.Parsed and HostSpec both have it)."""

    @property
    def name(self) -> str: ...
    @property
    def groups(self) -> frozenset[str]: ...
    @property
    def postgres(self) -> PostgresSpec | None: ...
    @property
    def backup(self) -> BackupSpec | None: ...


SLOT_PREFIX = "timestack_"


def slot_name(standby: str) -> str:
    """The physical replication slot kept on the primary for `standby` (an inventory name):
    `@ssh/db2.example` -> `timestack_db2_example`."""
    _, slash, rest = standby.partition("/")
    base = rest if standby.startswith("@") and slash else standby
    return SLOT_PREFIX + re.sub(r"[^a-z0-9_]", "_", base.lower())


def standbys_of(primary: str, hosts: Iterable[DatabaseHost]) -> list[str]:
    """Inventory names of the hosts that declare `primary` as their upstream, in order."""
    return [
        h.name
        for h in hosts
        if "timescaledb" in h.groups and h.postgres and h.postgres.upstream == primary
    ]


def replication_problems(hosts: Sequence[DatabaseHost]) -> list[HostProblem]:
    by_name = {h.name: h for h in hosts}
    problems: list[HostProblem] = []
    for h in hosts:
        problems += _standby(h, by_name)
        primary = h.postgres and h.postgres.upstream is None and "timescaledb" in h.groups
        if h.postgres and primary and standbys_of(h.name, hosts):
            problems += _primary(h, h.postgres, standbys_of(h.name, hosts))
    return problems


def _databases(by_name: Mapping[str, DatabaseHost]) -> str:
    names = [n for n, h in by_name.items() if "timescaledb" in h.groups]
    return ", ".join(names) or "(none in the inventory)"


def _standby(h: DatabaseHost, by_name: Mapping[str, DatabaseHost]) -> Iterator[HostProblem]:
    pg = h.postgres
    if pg is None or pg.upstream is None:
        return
    field, got = "postgres.upstream", repr(pg.upstream)
    if "timescaledb" not in h.groups:
        yield h.name, field, got, "no upstream outside group timescaledb (nothing to replicate)"
        return
    primary = by_name.get(pg.upstream)
    if pg.upstream == h.name:
        yield h.name, field, got, "another host: a host cannot stream from itself"
        return
    if primary is None or "timescaledb" not in primary.groups:
        yield h.name, field, got, f"a host in group timescaledb: {_databases(by_name)}"
        return
    if primary.postgres is None:
        return  # its postgres section has errors of its own
    if primary.postgres.upstream is not None:
        yield (
            h.name,
            field,
            got,
            f"a primary ({pg.upstream} is itself a standby of {primary.postgres.upstream}): "
            "cascading standbys are not supported, name the primary",
        )
        return
    if primary.postgres.version != pg.version:
        yield (
            h.name,
            "postgres.version",
            str(pg.version),
            f"{primary.postgres.version}, the version of its upstream {pg.upstream}: "
            "physical replication needs the same major version",
        )
    yield from _same_repository(h, primary)


def _same_repository(h: DatabaseHost, primary: DatabaseHost) -> Iterator[HostProblem]:
    own, theirs = h.backup, primary.backup
    if own is None or theirs is None:
        return
    if own.repo_type == "posix_local":
        yield (
            h.name,
            "backup.repo_type",
            "'posix_local'",
            f"{theirs.repo_type!r} like its upstream {primary.name}: a standby is restored from "
            "its primary's repository, and backups run on the primary only",
        )
        return
    pairs = (
        ("backup.stanza", own.stanza, theirs.stanza),
        ("backup.repo_type", own.repo_type, theirs.repo_type),
        ("backup.repo_host", own.repo_host, theirs.repo_host),
    )
    for field, mine, wanted in pairs:
        if mine != wanted:
            yield (
                h.name,
                field,
                repr(mine),
                f"{wanted!r}, as on its upstream {primary.name}: a standby is restored from "
                "its primary's stanza in the same repository",
            )


def _primary(h: DatabaseHost, pg: PostgresSpec, standbys: list[str]) -> Iterator[HostProblem]:
    role = pg.replication.role
    field = "postgres.replication.role"
    if role is None:
        yield (
            h.name,
            field,
            "nothing",
            f"a replication role for its standbys ({', '.join(standbys)}), e.g. {{name: "
            "timestack_replication, password_env: TIMESTACK_PG_REPLICATION_PASSWORD}",
        )
        return
    if not role.login or not (role.password or role.password_env):
        yield (
            h.name,
            f"{field}.password_env",
            "nothing",
            "password_env (or password) and login: standbys log in with it (scram-sha-256)",
        )
    if role.member_of:
        yield (
            h.name,
            f"{field}.member_of",
            repr(role.member_of),
            "[] (the role only replicates: REPLICATION, no other rights)",
        )
    if role.name in [r.name for r in pg.roles]:
        yield (
            h.name,
            f"{field}.name",
            repr(role.name),
            "a name not in postgres.roles (Timestack creates the replication role itself)",
        )
