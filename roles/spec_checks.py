"""Cross-field and inventory-wide rules of roles.spec, each reported as its own problem.

A problem is (field, got, expected), phrased like the field errors of roles.spec_errors.
Rules that only matter where a role runs look at the host's groups: pool arithmetic and port
clashes need both `pgbouncer` and `timescaledb`, replication factors count group `kafka`,
repository hosts come from group `pgbackrest_repo`.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roles.spec import (
        BackupSpec,
        CommonSpec,
        KafkaSpec,
        PgbouncerSpec,
        PostgresSpec,
        SchemaSpec,
    )

Problem = tuple[str, str, str]  # field, got, expected

POSTGRES_MANAGED = {
    "port": "postgres.port",
    "listen_addresses": "postgres.listen_addresses",
    "max_connections": "postgres.max_connections",
    "superuser_reserved_connections": "postgres.superuser_reserved_connections",
    "data_directory": "postgres.data_directory",
    "hba_file": "postgres.hba",
}
KAFKA_MANAGED = {
    "node.id": "kafka.node_id",
    "log.dirs": "kafka.data_dirs",
    "listeners": "kafka.port and kafka.controller_port",
    "advertised.listeners": "kafka.advertised_host",
    "process.roles": "the groups (Timestack sets it)",
    "controller.quorum.voters": "group kafka (Timestack derives it)",
}


@dataclass(frozen=True)
class Inventory:
    """Group name → host names, in inventory order."""

    groups: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, hosts: Iterable[tuple[str, frozenset[str]]]) -> Inventory:
        members: dict[str, list[str]] = {}
        for name, groups in hosts:
            for group in sorted(groups):
                members.setdefault(group, []).append(name)
        return cls({group: tuple(names) for group, names in members.items()})

    def hosts_in(self, group: str) -> tuple[str, ...]:
        return self.groups.get(group, ())


@dataclass(frozen=True)
class Parsed:
    """One host's sections as far as they validated (None: that section had errors)."""

    name: str
    groups: frozenset[str]
    common: CommonSpec | None
    postgres: PostgresSpec | None
    pgbouncer: PgbouncerSpec | None
    kafka: KafkaSpec | None
    backup: BackupSpec | None
    schema: SchemaSpec | None

    def sections(self) -> dict[str, Any]:
        """HostSpec input (the schema section under its alias)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def resolve_repo_host(backup: BackupSpec | None, inventory: Inventory) -> BackupSpec | None:
    """repo_type posix without repo_host: the inventory's only pgbackrest_repo host."""
    repos = inventory.hosts_in("pgbackrest_repo")
    if backup and backup.repo_type == "posix" and backup.repo_host is None and len(repos) == 1:
        return backup.model_copy(update={"repo_host": repos[0]})
    return backup


def host_problems(host: Parsed, inventory: Inventory) -> list[Problem]:
    pg, bouncer, groups = host.postgres, host.pgbouncer, host.groups
    problems: list[Problem] = []
    if pg:
        problems += _postgres(pg)
    if host.kafka:
        brokers = len(inventory.hosts_in("kafka")) if "kafka" in groups else None
        problems += _kafka(host.kafka, brokers)
    if host.backup:
        problems += _backup(host.backup, inventory, "timescaledb" in groups)
    if pg and bouncer and {"pgbouncer", "timescaledb"} <= groups:
        problems += _pooling(pg, bouncer)
    if pg and host.schema and "timescaledb" in groups:
        databases = [db.name for db in pg.databases]
        if host.schema.database not in databases:
            problems.append(
                (
                    "schema.database",
                    repr(host.schema.database),
                    f"a database declared in postgres.databases: {_names(databases)}",
                )
            )
    return problems


def inventory_problems(hosts: Iterable[Parsed]) -> list[tuple[str, str, str, str]]:
    """(host, field, got, expected) for rules that span hosts: unique Kafka node ids."""
    owners: dict[int, str] = {}
    problems = []
    for host in hosts:
        if host.kafka is None or host.kafka.node_id is None or "kafka" not in host.groups:
            continue
        node_id = host.kafka.node_id
        if node_id in owners:
            problems.append(
                (
                    host.name,
                    "kafka.node_id",
                    str(node_id),
                    f"a node id no other kafka host uses ({owners[node_id]} has it)",
                )
            )
        owners.setdefault(node_id, host.name)
    return problems


def _names(names: Iterable[str], empty: str = "(none declared)") -> str:
    return ", ".join(names) or empty


def _duplicates(path: str, names: Iterable[str], what: str) -> Iterator[Problem]:
    for name, count in Counter(names).items():
        if count > 1:
            yield f"{path}[{name}]", repr(name), f"each {what} declared once (found {count})"


def _managed(
    path: str, settings: Mapping[str, object], owners: Mapping[str, str]
) -> Iterator[Problem]:
    for key in settings:
        if key in owners:
            yield f"{path}[{key}]", repr(settings[key]), f"no {key} here; set {owners[key]} instead"


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 1024**3:g}GiB"


def _postgres(pg: PostgresSpec) -> Iterator[Problem]:
    tuning = pg.tuning
    if tuning.memory and tuning.reserve and tuning.reserve >= tuning.memory:
        yield (
            "postgres.tuning.reserve",
            _gib(tuning.reserve),
            f"less than tuning.memory ({_gib(tuning.memory)}): the reserve is RAM kept from "
            "PostgreSQL, so it must leave some",
        )
    if pg.superuser_reserved_connections >= pg.max_connections:
        yield (
            "postgres.superuser_reserved_connections",
            str(pg.superuser_reserved_connections),
            f"less than postgres.max_connections ({pg.max_connections})",
        )
    roles = [role.name for role in pg.roles]
    yield from _duplicates("postgres.roles", roles, "role")
    yield from _duplicates("postgres.databases", [db.name for db in pg.databases], "database")
    for role in pg.roles:
        path = f"postgres.roles[{role.name}]"
        if role.name.startswith("pg_"):
            yield f"{path}.name", repr(role.name), "a name not starting with pg_ (reserved)"
        if role.password and role.password_env:
            yield f"{path}.password", "<secret>", "only one of password and password_env"
        elif role.login and not (role.password or role.password_env):
            yield (
                f"{path}.password_env",
                "nothing",
                "password_env (or password) for a login role, as every host rule uses "
                "scram-sha-256; or login: false",
            )
        for group in role.member_of:
            if group not in roles and not group.startswith("pg_"):
                yield (
                    f"{path}.member_of",
                    repr(group),
                    f"a role in postgres.roles ({_names(roles)}) or a predefined pg_* role",
                )
    for db in pg.databases:
        if db.owner not in roles:
            yield (
                f"postgres.databases[{db.name}].owner",
                repr(db.owner),
                f"a role declared in postgres.roles: {_names(roles)}",
            )
        if "postgis" in db.extensions and not pg.postgis:
            yield (
                f"postgres.databases[{db.name}].extensions",
                "'postgis'",
                "postgres.postgis: true so the PostGIS package is installed",
            )
    for index, rule in enumerate(pg.hba):
        if ipaddress.ip_network(rule.address).prefixlen == 0 and not rule.allow_any_address:
            yield (
                f"postgres.hba[{index}].address",
                repr(rule.address),
                "a narrower network; to admit every address set allow_any_address: true "
                "on this rule",
            )
    yield from _managed("postgres.settings", pg.settings, POSTGRES_MANAGED)


def _kafka(kafka: KafkaSpec, brokers: int | None) -> Iterator[Problem]:
    names = [topic.name for topic in kafka.topics]
    yield from _duplicates("kafka.topics", names, "topic")
    folded: dict[str, str] = {}
    for name in dict.fromkeys(names):
        other = folded.setdefault(name.replace(".", "_"), name)
        if other != name:
            yield (
                f"kafka.topics[{name}]",
                repr(name),
                f"a name that differs from {other!r} in more than . versus _ "
                "(Kafka refuses topics whose names collide that way)",
            )
    if kafka.archive and "://" in kafka.archive and not kafka.archive_sha512:
        yield (
            "kafka.archive_sha512",
            "nothing",
            "the archive's SHA-512 (128 hex characters) whenever archive is a URL",
        )
    if kafka.controller_port == kafka.port:
        yield (
            "kafka.controller_port",
            str(kafka.controller_port),
            f"a port other than kafka.port ({kafka.port})",
        )
    yield from _managed("kafka.settings", kafka.settings, KAFKA_MANAGED)
    for topic in kafka.topics:
        if brokers is not None and topic.replication_factor > brokers:
            yield (
                f"kafka.topics[{topic.name}].replication_factor",
                str(topic.replication_factor),
                f"at most {brokers}, the number of hosts in group kafka",
            )


def _backup(backup: BackupSpec, inventory: Inventory, database_host: bool) -> Iterator[Problem]:
    repos = inventory.hosts_in("pgbackrest_repo")
    if backup.repo_type == "s3" and backup.s3 is None:
        yield (
            "backup.s3",
            "nothing",
            "an s3 section {bucket, region, key_env, secret_env} since repo_type is s3",
        )
    if backup.repo_type == "posix_local" and backup.repo_host:
        yield (
            "backup.repo_host",
            repr(backup.repo_host),
            "no repo_host with repo_type posix_local (the repository is on this host)",
        )
    if backup.repo_type == "posix" and database_host and backup.repo_host not in repos:
        yield (
            "backup.repo_host",
            repr(backup.repo_host) if backup.repo_host else "nothing",
            f"a host in group pgbackrest_repo: {_names(repos, '(none in the inventory)')}; "
            "or repo_type: posix_local",
        )


def _pooling(pg: PostgresSpec, bouncer: PgbouncerSpec) -> Iterator[Problem]:
    pool, reserve, count = (
        bouncer.default_pool_size,
        bouncer.reserve_pool_size,
        len(bouncer.databases),
    )
    available = pg.max_connections - pg.superuser_reserved_connections
    if (pool + reserve) * count > available:
        yield (
            "pgbouncer.default_pool_size",
            f"(default_pool_size {pool} + reserve_pool_size {reserve}) x {count} pgbouncer "
            f"databases = {(pool + reserve) * count} server connections",
            f"at most postgres.max_connections {pg.max_connections} - "
            f"superuser_reserved_connections {pg.superuser_reserved_connections} = {available};"
            " lower the pool sizes or raise postgres.max_connections",
        )
    if bouncer.listen_port == pg.port:
        yield (
            "pgbouncer.listen_port",
            str(bouncer.listen_port),
            f"a port other than postgres.port ({pg.port}) on the same host",
        )
    if bouncer.auth_user not in [role.name for role in pg.roles]:
        yield (
            "pgbouncer.auth_user",
            repr(bouncer.auth_user),
            "a role declared in postgres.roles (pgBouncer's auth_query logs in as it)",
        )
