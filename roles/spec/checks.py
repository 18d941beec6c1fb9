"""Cross-field and inventory-wide rules of roles.spec, each reported as its own problem.

A problem is (field, got, expected), phrased like the field errors of roles.spec.errors.
Rules that only matter where a role runs look at the host's groups: pool arithmetic and port
clashes need both `pgbouncer` and `timescaledb`, replication factors count group `kafka`,
repository hosts come from group `pgbackrest_repo`.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from roles.spec.backup import BackupSpec
from roles.spec.common import CommonSpec
from roles.spec.ingest import IngestSpec
from roles.spec.kafka import KafkaSpec, kafka_node_ids
from roles.spec.kafka_security import principal_problems, security_problems
from roles.spec.monitoring import MonitoringSpec, exporter_problems, postgres_exporter_problems
from roles.spec.pgbouncer import PgbouncerSpec, client_slots_arithmetic, internal_clients
from roles.spec.postgres import PostgresSpec, package_version_problems
from roles.spec.schema import SchemaSpec
from roles.spec.tls import TlsSpec
from roles.spec.topic_configs import topic_config_problems
from roles.spec.topology import replication_problems

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
    "listeners": "kafka.port, kafka.internal_port and kafka.controller_port",
    "advertised.listeners": "kafka.advertised_host",
    "listener.security.protocol.map": "kafka.security",
    "inter.broker.listener.name": "kafka.security",
    "controller.listener.names": "kafka.security",
    "sasl.enabled.mechanisms": "kafka.security",
    "authorizer.class.name": "kafka.security",
    "allow.everyone.if.no.acl.found": "kafka.security",
    "super.users": "group kafka (Timestack derives it from the brokers' certificates)",
    "ssl.keystore.location": "kafka.security (the host's certificate from Timestack's CA)",
    "ssl.truststore.location": "kafka.security (Timestack's CA)",
    "process.roles": "the groups (Timestack sets it)",
    "controller.quorum.voters": "group kafka (Timestack derives it)",
}
# server.properties keys that count replicas: never more than there are brokers.
KAFKA_REPLICA_COUNTS = (
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


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
    monitoring: MonitoringSpec | None = None
    ingest: IngestSpec | None = None
    tls: TlsSpec | None = None

    def sections(self) -> dict[str, Any]:
        """HostSpec input (the schema section under its alias)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def resolve_repo_host(backup: BackupSpec | None, inventory: Inventory) -> BackupSpec | None:
    """repo_type posix without repo_host: the inventory's only pgbackrest_repo host."""
    repos = inventory.hosts_in("pgbackrest_repo")
    if backup and backup.repo_type == "posix" and backup.repo_host is None and len(repos) == 1:
        return backup.model_copy(update={"repo_host": repos[0]})
    return backup


# A rule that needs a role's own code (the schema role's spec file): the caller passes it in, so
# the validator never imports a role.
HostRule = Callable[[Parsed], Iterable[Problem]]
# Likewise across hosts: (host, field, got, expected).
InventoryRule = Callable[[Sequence[Parsed]], Iterable[tuple[str, str, str, str]]]


def host_problems(
    host: Parsed, inventory: Inventory, rules: Iterable[HostRule] = ()
) -> list[Problem]:
    pg, bouncer, groups = host.postgres, host.pgbouncer, host.groups
    problems: list[Problem] = []
    if pg:
        problems += _postgres(pg)
    if host.kafka:
        brokers = len(inventory.hosts_in("kafka")) if "kafka" in groups else None
        problems += _kafka(host.kafka, brokers)
    if host.backup:
        problems += _backup(host.backup, inventory, "timescaledb" in groups)
    if bouncer and "pgbouncer" in groups:
        problems += _client_slots(bouncer)
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
    if pg and host.monitoring and "timescaledb" in groups and inventory.hosts_in("monitoring"):
        problems += postgres_exporter_problems(host.monitoring, pg)
    if host.monitoring:
        problems += exporter_problems(host.monitoring, groups)
    problems += _port_clashes(host, bool(inventory.hosts_in("monitoring")))
    for rule in rules:
        problems += rule(host)
    return problems


def inventory_problems(hosts: Sequence[Parsed]) -> list[tuple[str, str, str, str]]:
    """(host, field, got, expected) for rules that span hosts: unique Kafka node ids, a
    KRaft quorum size that survives a failure, and the replication topology
    (roles.spec.topology)."""
    brokers = [host for host in hosts if "kafka" in host.groups]
    ids = kafka_node_ids(
        (host.name, host.kafka.node_id if host.kafka else None) for host in brokers
    )
    owners: dict[int, str] = {}
    problems = replication_problems(hosts)
    problems += security_problems(hosts)
    for host in brokers:
        if host.kafka is None:
            continue  # its kafka section has errors of its own: its node id is not known
        node_id = ids[host.name]
        if node_id in owners:
            derived = host.kafka.node_id is None
            problems.append(
                (
                    host.name,
                    "kafka.node_id",
                    f"{node_id} (its position in group kafka)" if derived else str(node_id),
                    f"a node id no other kafka host uses ({owners[node_id]} has it)",
                )
            )
        owners.setdefault(node_id, host.name)
    if len(brokers) == 2:
        problems.append(
            (
                brokers[1].name,
                "group kafka",
                "2 hosts",
                "1 host, or 3 or more: every broker is a KRaft controller, and a quorum of 2 "
                "stops when either host fails (worse than 1)",
            )
        )
    return problems


# Prometheus's port on a monitoring host (Debian's default; the role does not move it).
PROMETHEUS_PORT = 9090


def _listeners(host: Parsed, monitored: bool) -> list[tuple[str, int]]:
    """(field, port) of every TCP port host data puts a service of this host on: the fixed
    one first, then the services', then the monitoring ports, which are the cheapest to move
    (a clash names the later one)."""
    groups = host.groups
    fixed = [("Prometheus's port", PROMETHEUS_PORT)] if "monitoring" in groups else []
    services, movable = [], []
    if host.postgres and "timescaledb" in groups:
        services.append(("postgres.port", host.postgres.port))
    if host.pgbouncer and "pgbouncer" in groups:
        services.append(("pgbouncer.listen_port", host.pgbouncer.listen_port))
    if host.kafka and "kafka" in groups:
        kafka, jmx = host.kafka, host.kafka.jmx_exporter
        services += [("kafka.port", kafka.port), ("kafka.controller_port", kafka.controller_port)]
        if kafka.security == "sasl_ssl":
            services.append(("kafka.internal_port", kafka.internal_port))
        if kafka.plaintext_migration is not None:
            services += [
                ("kafka.plaintext_migration.port", kafka.plaintext_migration.port),
                (
                    "kafka.plaintext_migration.controller_port",
                    kafka.plaintext_migration.controller_port,
                ),
            ]
        if jmx.enabled or (jmx.enabled is None and monitored):
            movable.append(("kafka.jmx_exporter.port", jmx.port))
    if host.monitoring and "monitoring" in groups:
        movable.append(("monitoring.alertmanager.port", host.monitoring.alertmanager.port))
    return fixed + services + movable


# Clashes the section checks (_kafka, _pooling) already report in their own words.
_REPORTED = frozenset(
    {
        ("kafka.port", "kafka.controller_port"),
        ("kafka.port", "kafka.internal_port"),
        ("kafka.controller_port", "kafka.internal_port"),
        ("postgres.port", "pgbouncer.listen_port"),
        *(
            (new, f"kafka.plaintext_migration.{kept}")
            for new in ("kafka.port", "kafka.controller_port", "kafka.internal_port")
            for kept in ("port", "controller_port")
        ),
        ("kafka.plaintext_migration.port", "kafka.plaintext_migration.controller_port"),
    }
)


def _migration_problems(kafka: KafkaSpec) -> Iterator[Problem]:
    """kafka.plaintext_migration: only on the way to sasl_ssl, and the new listeners cannot
    take over a port PLAINTEXT keeps open until the migration's last deploy."""
    migration = kafka.plaintext_migration
    if migration is None:
        return
    if kafka.security != "sasl_ssl":
        yield (
            "kafka.plaintext_migration",
            "set",
            "no kafka.plaintext_migration under kafka.security plaintext (it keeps PLAINTEXT "
            "open on the way to sasl_ssl)",
        )
        return
    kept = {migration.port: "port", migration.controller_port: "controller_port"}
    if len(kept) < 2:
        yield (
            "kafka.plaintext_migration.controller_port",
            str(migration.controller_port),
            f"a port other than kafka.plaintext_migration.port ({migration.port})",
        )
    for field in ("port", "internal_port", "controller_port"):
        port = getattr(kafka, field)
        if port in kept:
            yield (
                f"kafka.{field}",
                str(port),
                f"a free port for the new TLS listener (e.g. {port + 4}): PLAINTEXT keeps "
                f"{port} (kafka.plaintext_migration.{kept[port]}) until the migration's last "
                "deploy",
            )


def _port_clashes(host: Parsed, monitored: bool) -> Iterator[Problem]:
    """Two services of one host on one port: the second would not start."""
    owners: dict[int, str] = {}
    for name, port in _listeners(host, monitored):
        first = owners.setdefault(port, name)
        if first != name and (first, name) not in _REPORTED:
            yield (
                name,
                str(port),
                f"a port no other service of this host uses ({first} is {port} here)",
            )


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
    yield from package_version_problems(pg)
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
        if rule.type == "host" and not rule.allow_without_tls:
            yield (
                f"postgres.hba[{index}].type",
                repr(rule.type),
                "hostssl: a host rule also admits clients without TLS (their password exchange "
                "and data in clear); to declare that on purpose set allow_without_tls: true on "
                "this rule",
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
    jmx = kafka.jmx_exporter
    if not jmx.jar_is_local and jmx.pinned_sha512 is None:
        yield (
            "kafka.jmx_exporter.jar_sha512",
            "nothing",
            f"the SHA-512 of jmx_prometheus_javaagent-{jmx.version}.jar (only the default "
            "version's is built in), or a local path in kafka.jmx_exporter.jar",
        )
    if kafka.controller_port == kafka.port:
        yield (
            "kafka.controller_port",
            str(kafka.controller_port),
            f"a port other than kafka.port ({kafka.port})",
        )
    if kafka.security == "sasl_ssl" and kafka.internal_port in (kafka.port, kafka.controller_port):
        yield (
            "kafka.internal_port",
            str(kafka.internal_port),
            f"a port other than kafka.port ({kafka.port}) and kafka.controller_port "
            f"({kafka.controller_port})",
        )
    yield from _migration_problems(kafka)
    yield from principal_problems(kafka)
    yield from _managed("kafka.settings", kafka.settings, KAFKA_MANAGED)
    for key in KAFKA_REPLICA_COUNTS:
        value = kafka.settings.get(key)
        if value is not None and (not value.isdigit() or int(value) < 1):
            yield f"kafka.settings[{key}]", repr(value), "a whole number of replicas, 1 or more"
        elif value is not None and brokers is not None and int(value) > brokers:
            yield (
                f"kafka.settings[{key}]",
                value,
                f"at most {brokers}, the number of hosts in group kafka",
            )
    for topic in kafka.topics:
        yield from topic_config_problems(f"kafka.topics[{topic.name}].configs", topic.configs)
        if brokers is not None and topic.replication_factor > brokers:
            yield (
                f"kafka.topics[{topic.name}].replication_factor",
                str(topic.replication_factor),
                f"at most {brokers}, the number of hosts in group kafka",
            )
        min_isr = topic.configs.get("min.insync.replicas", "1")
        if min_isr.isdigit() and int(min_isr) > topic.replication_factor:
            yield (
                f"kafka.topics[{topic.name}].configs[min.insync.replicas]",
                min_isr,
                f"at most the topic's replication_factor ({topic.replication_factor}): "
                "acks=all producers would be refused on every write",
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


def _client_slots(bouncer: PgbouncerSpec) -> Iterator[Problem]:
    limit, needed = bouncer.max_client_conn, bouncer.clients + internal_clients()
    if limit is not None and limit < needed:
        yield (
            "pgbouncer.max_client_conn",
            str(limit),
            f"at least {client_slots_arithmetic(bouncer.clients)}; leave it out to have it "
            "computed, or lower pgbouncer.clients",
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
    if bouncer.auth_user in [role.name for role in pg.roles]:
        yield (
            "pgbouncer.auth_user",
            repr(bouncer.auth_user),
            "a role not in postgres.roles: the pgbouncer role creates it without a password "
            "(it logs in by peer authentication over the local socket)",
        )
    hostssl = [i for i, rule in enumerate(pg.hba) if rule.type == "hostssl"]
    if bouncer.client_tls_sslmode == "disable" and hostssl:
        yield (
            "pgbouncer.client_tls_sslmode",
            "'disable'",
            f"a mode with TLS (require, the default): postgres.hba[{hostssl[0]}] is hostssl, "
            "and pgBouncer applies the same rules, so it would refuse every client they admit",
        )
    for database in bouncer.databases:
        if database.host not in LOCAL_HOSTS:
            yield (
                f"pgbouncer.databases[{database.name}].host",
                repr(database.host),
                "127.0.0.1, localhost or ::1: pgBouncer looks passwords up through the local "
                "PostgreSQL (auth_query over the Unix socket); remote servers are not supported",
            )
