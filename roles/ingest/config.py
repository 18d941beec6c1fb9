"""What the ingest role wants, as pure data: the writer's configuration from the inventory
and the time-series spec, and the rules that refuse an inventory the writers cannot serve.

The writers take everything about the database from the primary's own host data: the
time-series spec it applies (schema.spec), its database (schema.database), the writer role
(the spec's ingest.role) with its password from the primary's postgres.roles, and the
PostgreSQL hosts and ports of group timescaledb. So one declaration serves both sides.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from roles import kafka_clients, metrics
from roles.paths import PUBLISHED_CA
from roles.schema.model import LoadedSpec, OnConflictUpdate, SpecFileError, load_spec
from roles.spec import HostSpec, Parsed, PostgresSpec, RoleSpec, host_address
from roles.units import parse_duration_ms

PROJECT = Path(__file__).resolve().parents[2]  # schema.spec paths are relative to it
USER = "timestack-ingest"
UNIT = "timestack-ingest"
CONF_DIR = "/etc/timestack"
CONFIG = f"{CONF_DIR}/ingest.json"
PASSWORD = f"{CONF_DIR}/ingest.password"  # 0640 root:timestack-ingest
# The writers' Kafka principal (timestack-ingest): its password, 0640 root:timestack-ingest,
# and Timestack's CA certificate, which the brokers' certificates are checked against.
KAFKA_PASSWORD = f"{CONF_DIR}/ingest-kafka.password"
KAFKA_CA = f"{CONF_DIR}/kafka-ca.crt"
LIB_DIR = "/usr/local/lib/timestack"
PACKAGE = "timestack_ingest"  # the writer package on the host (roles/ingest/writer)
PACKAGES = ["python3-confluent-kafka", "python3-psycopg"]


def primaries(specs: Mapping[str, HostSpec]) -> list[HostSpec]:
    return [s for s in specs.values() if "timescaledb" in s.groups and s.postgres.upstream is None]


def load(primary: HostSpec) -> LoadedSpec:
    return load_spec(PROJECT / primary.schema_.spec, PROJECT)


def writer_role(primary: HostSpec, loaded: LoadedSpec) -> RoleSpec:
    name = loaded.spec.ingest.role
    return next(role for role in primary.postgres.roles if role.name == name)


def database_hosts(host: HostSpec, specs: Mapping[str, HostSpec]) -> list[HostSpec]:
    names = host.ingest.database_hosts or [
        name for name, spec in specs.items() if "timescaledb" in spec.groups
    ]
    return [specs[name] for name in names]


def kafka_secured(specs: Mapping[str, HostSpec]) -> bool:
    """Whether the writers log in to Kafka (the brokers' kafka.security is sasl_ssl)."""
    first = kafka_clients.cluster_spec(specs.values())
    return first is not None and kafka_clients.secured(first.kafka)


def kafka_password(specs: Mapping[str, HostSpec]) -> str:
    """The writers' principal's password, from the brokers' kafka.ingest_password_env."""
    first = kafka_clients.cluster_spec(specs.values())
    return kafka_clients.env_secret(first.kafka.ingest_password_env) if first else ""


def _kafka_security(specs: Mapping[str, HostSpec]) -> dict[str, Any]:
    """The writers' librdkafka settings for a secured cluster, without the password: the
    writer reads that from KAFKA_PASSWORD (roles/ingest/writer/__main__.py)."""
    if not kafka_secured(specs):
        return {}
    settings: dict[str, Any] = kafka_clients.sasl_client(
        kafka_clients.INGEST_PRINCIPAL, "", KAFKA_CA
    )
    del settings["sasl.password"]
    return settings


def writer_config(
    host: HostSpec, specs: Mapping[str, HostSpec], primary: HostSpec, loaded: LoadedSpec
) -> dict[str, Any]:
    """/etc/timestack/ingest.json of one writer (no secret in it)."""
    brokers = [s for s in specs.values() if "kafka" in s.groups]
    databases = database_hosts(host, specs)
    ingest = host.ingest
    secured = kafka_secured(specs)
    return {
        "host": host_address(host.name),
        **({"kafka_password_file": KAFKA_PASSWORD} if secured else {}),
        "kafka": {
            "bootstrap.servers": kafka_clients.client_bootstrap(brokers),
            **_kafka_security(specs),
            "group.id": ingest.group_id,
            # A writer that stops without leaving (SIGKILL, power) loses its partitions to
            # the others after this long.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 3000,
        },
        "database": {
            "hosts": [host_address(d.name) for d in databases],
            "ports": [d.postgres.port for d in databases],
            "dbname": primary.schema_.database,
            "user": loaded.spec.ingest.role,
            "password_file": PASSWORD,
            "sslmode": ingest.sslmode,
            "sslrootcert": PUBLISHED_CA,
            "application_name": f"timestack-ingest {host_address(host.name)}",
            "statement_timeout_ms": int(parse_duration_ms(ingest.statement_timeout)),
        },
        "rejects": loaded.spec.ingest.rejects,
        "tables": [
            {
                "topic": table.ingest.topic,
                "table": table.table,
                "update": (
                    table.ingest.on_conflict.update
                    if isinstance(table.ingest.on_conflict, OnConflictUpdate)
                    else None
                ),
                "batch_rows": table.ingest.batch.rows,
                "batch_wait_ms": table.ingest.batch.wait_ms,
            }
            for table in loaded.spec.ingested
            if table.ingest
        ],
        "retry": {"initial_s": 0.5, "max_s": parse_duration_ms(ingest.retry_max) / 1000},
        # Where Prometheus dials this host's exporters (roles.metrics).
        "metrics": {"address": metrics.address(host), "port": ingest.metrics_port},
    }


def inventory_problems(hosts: Sequence[Parsed]) -> Iterator[tuple[str, str, str, str]]:
    """(host, field, got, expected): writers without a spec to serve, a spec whose ingest no
    writer serves, a role or topic the other side does not declare."""
    writers = [h for h in hosts if "ingest" in h.groups]
    primary = [
        h for h in hosts if "timescaledb" in h.groups and h.postgres and not h.postgres.upstream
    ]
    if writers and not primary:
        yield (
            writers[0].name,
            "group ingest",
            f"{len(writers)} host(s) and no primary in group timescaledb",
            "a PostgreSQL primary (group timescaledb) for the writers to write to",
        )
    databases = {h.name for h in hosts if "timescaledb" in h.groups}
    for writer in writers:
        for name in writer.ingest.database_hosts if writer.ingest else ():
            if name not in databases:
                yield (
                    writer.name,
                    "ingest.database_hosts",
                    repr(name),
                    f"a host of group timescaledb: {', '.join(sorted(databases)) or '(none)'}",
                )
    topics = {t.name for h in hosts if "kafka" in h.groups and h.kafka for t in h.kafka.topics}
    for host in primary:
        if host.schema is None or host.postgres is None:
            continue
        try:
            loaded = load_spec(PROJECT / host.schema.spec, PROJECT)
        except SpecFileError:
            continue  # reported by the schema rule
        ingested = loaded.spec.ingested
        if not ingested:
            continue
        yield from _spec_problems(host.name, host.postgres, loaded, topics, bool(writers))


def _spec_problems(
    name: str, pg: PostgresSpec, loaded: LoadedSpec, topics: set[str], writers: bool
) -> Iterator[tuple[str, str, str, str]]:
    label = (
        str(loaded.path.relative_to(PROJECT))
        if loaded.path.is_relative_to(PROJECT)
        else str(loaded.path)
    )
    tables = ", ".join(t.table for t in loaded.spec.ingested)
    if not writers:
        yield (
            name,
            "schema.spec",
            f"{label}: ingest: blocks on {tables}, and no host in group ingest",
            "hosts in group ingest to run the writers (inventory/prod.py puts them on the "
            "Kafka hosts), or no ingest: blocks in the spec",
        )
        return
    role = loaded.spec.ingest.role
    declared = next((r for r in pg.roles if r.name == role), None)
    if declared is None or not (declared.password or declared.password_env) or not declared.login:
        yield (
            name,
            "postgres.roles",
            f"no login role {role!r} with a password",
            f"{{name: {role}, password_env: TIMESTACK_PG_INGEST_PASSWORD}}: the writers log "
            f"in as the spec's ingest.role ({label})",
        )
    for table in loaded.spec.ingested:
        assert table.ingest is not None
        if table.ingest.topic not in topics:
            yield (
                name,
                "schema.spec",
                f"{label}: hypertables[{table.table}].ingest.topic: {table.ingest.topic!r}",
                f"a topic of kafka.topics: {', '.join(sorted(topics)) or '(none declared)'}",
            )
