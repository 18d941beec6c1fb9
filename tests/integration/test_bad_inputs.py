"""Bad host data and bad time-series specs, each run through the real CLI against the lab:
every one is refused before any host changes, with a line that names the host (and the spec
file), the field and what is expected, and without a Python traceback.

Every case also carries the VALID changes below, which would rewrite managed files on all
three hosts if any operation ran; so a snapshot of those files (sha256, mode, owner) and of
the schema ledger that is the same after the run as before it means nothing was applied.
Another deploy against the lab while a case runs shows up as a change too: run this file
when nobody else deploys, and re-run a snapshot failure before concluding it is real.

`pytest --collect-only -q` on this file lists one line per case (then a blank line and the
total). Refusals that only the hosts can reveal are tested with their roles (a Kafka
partition decrease: test_kafka.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lab.kafka_release import archive_path
from roles.backup import config as backup_config
from roles.common import LIMITS_FILE, SYSCTL_FILE, SYSTEMD_LIMITS_FILE
from roles.hostdata import deep_merge
from roles.kafka import config as kafka_config
from roles.pgbouncer import config as pgbouncer_config
from roles.templating import render
from tests.integration.inventories import lab_variant
from tests.integration.lab_access import db_sql
from tests.integration.pyinfra_run import ROOT, run_pyinfra
from tests.verify.targets import load_targets

DB, KAFKA, REPO = "ts-db1", "ts-kafka1", "ts-backup1"
NOFILE = 70000  # the lab runs with the default 65536
VALID: dict[str, dict[str, Any]] = {
    DB: {"common": {"nofile": NOFILE}, "postgres": {"settings": {"work_mem": "5MB"}}},
    KAFKA: {"common": {"nofile": NOFILE}, "kafka": {"settings": {"num.io.threads": 9}}},
    REPO: {"common": {"nofile": NOFILE}, "backup": {"retention_full": 3}},
}
MANAGED = (
    SYSCTL_FILE,
    LIMITS_FILE,
    SYSTEMD_LIMITS_FILE,
    "/etc/timezone",
    "/etc/systemd/system/timestack-*",
    f"/etc/systemd/system/{kafka_config.UNIT}",
    "/etc/systemd/system/*.service.d/50-timestack.conf",
    "/etc/postgresql/*/*/conf.d/*",
    "/etc/postgresql/*/*/pg_hba.conf",
    "/etc/postgresql/*/*/pg_ident.conf",
    "/etc/postgresql-common/createcluster.d/*",
    f"{pgbouncer_config.CONF_DIR}/*",
    backup_config.CONF,
    f"{backup_config.TLS_DIR}/*",
    kafka_config.SERVER_PROPERTIES,
)
# Files each host must have for its snapshot to mean anything (the lab is deployed).
REQUIRED = {
    DB: (
        LIMITS_FILE,
        "/etc/postgresql/17/main/pg_hba.conf",
        "/etc/postgresql/17/main/conf.d/90-timestack-overrides.conf",
        pgbouncer_config.INI,
        backup_config.CONF,
    ),
    KAFKA: (LIMITS_FILE, kafka_config.SERVER_PROPERTIES),
    REPO: (LIMITS_FILE, backup_config.CONF),
}
LEDGER = "SELECT phase, name, checksum FROM timestack.schema_migrations ORDER BY 1, 2"
# `stat` and `sha256sum` of every managed file present; unmatched globs are skipped.
SNAPSHOT = (
    f'for f in {" ".join(MANAGED)}; do [ -f "$f" ] && '
    'echo "$f $(stat -c "%a %U:%G" "$f") $(sha256sum < "$f" | cut -c1-64)"; done; true'
)

Snapshot = dict[str, str]  # "<host> <path>" (or "ledger") -> "<mode> <owner> <sha256>"


def _host_files(container: str) -> Snapshot:
    output = subprocess.run(
        ["docker", "exec", container, "sh", "-c", SNAPSHOT],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        f"{container} {path}": state
        for path, state in (line.split(" ", 1) for line in output.splitlines())
    }


def snapshot() -> Snapshot:
    with ThreadPoolExecutor(4) as pool:
        ledger = pool.submit(db_sql, LEDGER, "telemetry")
        files = pool.map(_host_files, (DB, KAFKA, REPO))
        state = {key: value for host in files for key, value in host.items()}
        return {**state, "ledger": ledger.result()}


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    return [
        f"{key}: {before.get(key, 'absent')} -> {after.get(key, 'absent')}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


@dataclass(frozen=True)
class Case:
    id: str
    hosts: Mapping[str, Mapping[str, Any]]  # container -> host data merged over the lab's
    expected: tuple[str, ...]  # fragments of the report, each naming host, field and fix
    spec: Callable[[str], str] | None = None  # sql/timeseries.yml -> this case's spec file
    joined: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group -> hosts
    env: Mapping[str, str] = field(default_factory=dict)


def spec_file(case_id: str) -> str:
    return f"sql/_bad_inputs_{case_id}.yml"


def case(case_id: str, container: str, data: dict[str, Any], *expected: str, **extra: Any) -> Any:
    """Bad data on one host; each expected line starts with that host's name, except a
    fragment starting with "..." (the rest of the line before it)."""
    lines = tuple(
        text[3:] if text.startswith("...") else f"{container}: {text}" for text in expected
    )
    return pytest.param(Case(case_id, {container: data}, lines, **extra), id=case_id)


def spec_case(case_id: str, change: Callable[[str], str], *expected: str) -> Any:
    """A bad time-series spec file, named by ts-db1's schema.spec."""
    prefix = f"{DB}: schema.spec: got {spec_file(case_id)}: "
    lines = tuple(prefix + text for text in expected)
    return pytest.param(Case(case_id, {}, lines, spec=change), id=case_id)


def replaced(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, f"sql/timeseries.yml no longer has {old!r}"
        return text.replace(old, new, 1)

    return change


ROLES = [
    {"name": "telemetry_owner", "password_env": "TIMESTACK_PG_OWNER_PASSWORD"},
    {"name": "telemetry_app", "password_env": "TIMESTACK_PG_APP_PASSWORD"},
    {"name": "telemetry_ro", "password_env": "TIMESTACK_PG_RO_PASSWORD"},
]
UNSET_ENV = "TIMESTACK_BAD_INPUTS_UNSET"
HBA = {"type": "hostssl", "database": "telemetry", "user": "all"}
TOPIC = "vehicle-telemetry"


def topic(**fields: Any) -> dict[str, Any]:
    return {"kafka": {"topics": [{"name": TOPIC, **fields}]}}


def pooling(**fields: Any) -> dict[str, Any]:
    return {"pgbouncer": fields}


CASES = [
    # Types: a string for an integer, a dict for a list, a list for a dict, unknown keys.
    case(
        "postgres-port-not-a-number",
        DB, {"postgres": {"port": "5432x"}},
        "postgres.port: got '5432x'; expected an integer 1-65535",
    ),
    case(
        "hba-mapping-for-a-list",
        DB, {"postgres": {"hba": {"address": "10.20.0.0/24"}}},
        "postgres.hba: got {address: '10.20.0.0/24'}; expected a list",
    ),
    case(
        "tuning-list-for-a-mapping",
        DB, {"postgres": {"tuning": ["ssd"]}},
        "postgres.tuning: got ['ssd']; expected a mapping of key: value",
    ),
    case(
        "unknown-key-with-suggestion",
        DB, {"postgres": {"max_conections": 300}},
        "postgres.max_conections: got an unknown key; expected no such key; "
        "did you mean 'max_connections'?",
    ),
    case(
        "unknown-section-with-suggestion",
        REPO, {"bakup": {"retention_full": 4}},
        "bakup: got an unknown key; expected no such section; did you mean 'backup'?",
    ),
    case(
        "kafka-nofile-not-a-number",
        KAFKA, {"common": {"nofile": "lots"}},
        "common.nofile: got 'lots'; expected an integer >= 1024",
    ),
    # Ranges and sizes.
    case(
        "postgres-port-70000",
        DB, {"postgres": {"port": 70000}},
        "postgres.port: got 70000; expected an integer 1-65535",
    ),
    case(
        "kafka-port-70000",
        KAFKA, {"kafka": {"port": 70000}}, "kafka.port: got 70000; expected an integer 1-65535",
    ),
    case(
        "negative-memory-size",
        DB, {"postgres": {"tuning": {"memory": "-4GiB"}}},
        "postgres.tuning.memory: got '-4GiB'; expected a size like 4GiB, 512MB or 65536",
    ),
    case(
        "negative-kafka-heap",
        KAFKA, {"kafka": {"heap": -5}}, "kafka.heap: got -5; expected a size like 4GiB",
    ),
    case(
        "pool-size-zero",
        DB, pooling(default_pool_size=0),
        "pgbouncer.default_pool_size: got 0; expected an integer >= 1",
    ),
    case(
        "reserve-pool-negative",
        DB, pooling(reserve_pool_size=-1),
        "pgbouncer.reserve_pool_size: got -1; expected an integer >= 0",
    ),
    case(
        "backup-retention-zero",
        REPO, {"backup": {"retention_full": 0}},
        "backup.retention_full: got 0; expected an integer >= 1",
    ),
    # Enumerations.
    case(
        "disk-kind",
        DB, {"postgres": {"tuning": {"disk": "floppy"}}},
        "postgres.tuning.disk: got 'floppy'; expected one of: hdd, ssd, nvme",
    ),
    case(
        "postgres-source",
        DB, {"postgres": {"source": "pgdg"}},
        "postgres.source: got 'pgdg'; expected one of: timescale, debian",
    ),
    case(
        "pool-mode",
        DB, pooling(pool_mode="txn"),
        "pgbouncer.pool_mode: got 'txn'; expected one of: session, transaction, statement",
    ),
    case(
        "backup-compression",
        REPO, {"backup": {"compress_type": "bz2"}},
        "backup.compress_type: got 'bz2'; expected one of: zst, lz4, gz",
    ),
    case(
        "schema-edition",
        DB, {"schema": {"edition": "community"}},
        "schema.edition: got 'community'; expected one of: auto, timescale, apache",
    ),
    # Fields that conflict on one host.
    case(
        "pools-exceed-max-connections",
        DB, pooling(default_pool_size=190),
        "pgbouncer.default_pool_size: got (default_pool_size 190 + reserve_pool_size 10) x 1 "
        "pgbouncer databases = 200 server connections; expected at most "
        "postgres.max_connections 200 - superuser_reserved_connections 3 = 197; lower the "
        "pool sizes or raise postgres.max_connections",
    ),
    case(
        "reserved-connections-above-max",
        DB, {"postgres": {"superuser_reserved_connections": 300}},
        "postgres.superuser_reserved_connections: got 300; expected less than "
        "postgres.max_connections (200)",
    ),
    case(
        "pgbouncer-port-is-postgres-port",
        DB, pooling(listen_port=5432),
        "pgbouncer.listen_port: got 5432; expected a port other than postgres.port (5432)",
    ),
    case(
        "pgbouncer-auth-user-is-a-declared-role",
        DB, pooling(auth_user="telemetry_app"),
        "pgbouncer.auth_user: got 'telemetry_app'; expected a role not in postgres.roles",
    ),
    case(
        "database-owner-not-declared",
        DB, {"postgres": {"databases": [{"name": "telemetry", "owner": "nobody"}]}},
        "postgres.databases[telemetry].owner: got 'nobody'; expected a role declared in "
        "postgres.roles: telemetry_owner, telemetry_app, timestack_ingest, telemetry_ro",
    ),
    case(
        "schema-database-not-declared",
        DB, {"schema": {"database": "metrics"}},
        "schema.database: got 'metrics'; expected a database declared in "
        "postgres.databases: telemetry",
    ),
    # pg_hba.
    case(
        "hba-md5",
        DB, {"postgres": {"hba": [{**HBA, "address": "10.20.0.0/24", "method": "md5"}]}},
        "postgres.hba[0].method: got 'md5'; expected scram-sha-256 (md5 is a weak",
    ),
    case(
        "hba-any-ipv4-address",
        DB, {"postgres": {"hba": [{**HBA, "address": "0.0.0.0/0"}]}},
        "postgres.hba[0].address: got '0.0.0.0/0'; expected a narrower network; to admit "
        "every address set allow_any_address: true on this rule",
    ),
    case(
        "hba-any-ipv6-address",
        DB, {"postgres": {"hba": [{**HBA, "address": "::/0"}]}},
        "postgres.hba[0].address: got '::/0'; expected a narrower network; to admit "
        "every address set allow_any_address: true",
    ),
    case(
        "hba-without-tls-undeclared",
        DB, {"postgres": {"hba": [{**HBA, "type": "host", "address": "10.20.0.0/24"}]}},
        "postgres.hba[0].type: got 'host'; expected hostssl: a host rule also admits clients "
        "without TLS (their password exchange and data in clear); to declare that on purpose "
        "set allow_without_tls: true on this rule",
    ),
    case(
        "hba-host-bits-set",
        DB, {"postgres": {"hba": [{**HBA, "address": "10.20.0.7/24"}]}},
        "postgres.hba[0].address: got '10.20.0.7/24'; expected a network in CIDR form like "
        "10.20.0.0/24 (host bits are set; did you mean 10.20.0.0/24?)",
    ),
    # Passwords come from the environment of the machine running pyinfra.
    case(
        "password-env-unset",
        DB, {"postgres": {"roles": [*ROLES[:2], {**ROLES[2], "password_env": UNSET_ENV}]}},
        f"postgres.roles[telemetry_ro].password_env: got '{UNSET_ENV}'; expected "
        f"environment variable {UNSET_ENV} to be set and non-empty where pyinfra runs",
    ),
    case(
        "password-env-empty",
        DB, {"postgres": {"roles": [*ROLES[:2], {**ROLES[2], "password_env": "TS_EMPTY"}]}},
        "postgres.roles[telemetry_ro].password_env: got 'TS_EMPTY'; expected environment "
        "variable TS_EMPTY to be set and non-empty",
        env={"TS_EMPTY": ""},
    ),
    # Backups.
    case(
        "backup-repo-host-not-in-group",
        DB, {"backup": {"repo_host": "ts-backup9"}},
        "backup.repo_host: got 'ts-backup9'; expected a host in group "
        "pgbackrest_repo: ts-backup1; or repo_type: posix_local",
    ),
    case(
        "s3-repository-without-s3-section",
        DB, {"backup": {"repo_type": "s3"}},
        "backup.s3: got nothing; expected an s3 section {bucket, region, key_env, "
        "secret_env} since repo_type is s3",
    ),
    # Kafka: replicas against brokers, topic configs, ports, the archive, node ids (a group
    # of 2 brokers is refused too; the lab has 3, so tests/unit/test_spec.py covers it).
    case(
        "topic-replication-above-brokers",
        KAFKA, topic(replication_factor=4),
        f"kafka.topics[{TOPIC}].replication_factor: got 4; expected at most 3, the number "
        "of hosts in group kafka",
    ),
    case(
        "default-replication-above-brokers",
        KAFKA, {"kafka": {"settings": {"default.replication.factor": 4}}},
        "kafka.settings[default.replication.factor]: got 4; expected at most 3, the number "
        "of hosts in group kafka",
    ),
    case(
        "topic-min-insync-above-replication",
        KAFKA, topic(replication_factor=3, configs={"min.insync.replicas": 4}),
        f"kafka.topics[{TOPIC}].configs[min.insync.replicas]: got 4; expected at most the "
        "topic's replication_factor (3)",
    ),
    case(
        "topic-config-name-typo",
        KAFKA, topic(configs={"retension.ms": 86400000}),
        f"kafka.topics[{TOPIC}].configs[retension.ms]: got an unknown key; expected no such "
        "topic config; did you mean 'retention.ms'?",
    ),
    case(
        "topic-retention-not-milliseconds",
        KAFKA, topic(configs={"retention.ms": "7 days"}),
        f"kafka.topics[{TOPIC}].configs[retention.ms]: got '7 days'; expected a whole "
        "number of milliseconds, -1 or more (-1: no time limit; 7 days is 604800000)",
    ),
    case(
        "topic-compression-unknown",
        KAFKA, topic(configs={"compression.type": "brotli"}),
        f"kafka.topics[{TOPIC}].configs[compression.type]: got 'brotli'; expected one of: "
        "uncompressed, zstd, lz4, snappy, gzip, producer",
    ),
    case(
        "topic-names-collide",
        KAFKA, {"kafka": {"topics": [{"name": "fleet.gps"}, {"name": "fleet_gps"}]}},
        "kafka.topics[fleet_gps]: got 'fleet_gps'; expected a name that differs from "
        "'fleet.gps' in more than . versus _",
    ),
    case(
        "controller-port-is-broker-port",
        KAFKA, {"kafka": {"controller_port": 9092}},
        "kafka.controller_port: got 9092; expected a port other than kafka.port (9092)",
    ),
    case(
        "archive-url-without-checksum",
        KAFKA, {"kafka": {"archive": "https://mirror.example.net/kafka_2.13-4.4.0.tgz"}},
        "kafka.archive_sha512: got nothing; expected the archive's SHA-512 (128 hex "
        "characters) whenever archive is a URL",
    ),
    case(
        "archive-file-missing",
        KAFKA, {"kafka": {"archive": "/nonexistent/kafka_2.13-4.4.0.tgz"}},
        "kafka.archive: /nonexistent/kafka_2.13-4.4.0.tgz is not a file on the machine "
        "running pyinfra; fix the path",
    ),
    case(
        "archive-checksum-mismatch",
        KAFKA, {"kafka": {"archive_sha512": "ab" * 64}},
        f"kafka.archive_sha512: {archive_path()} has SHA-512 ",
        f"...host data says {'ab' * 64}; the file changed or the checksum is stale",
    ),
    case(
        "kafka-node-id-collision",
        REPO, {"kafka": {"node_id": 1}},
        "kafka.node_id: got 1; expected a node id no other kafka host uses "
        "(ts-kafka1 has it)",
        joined={"kafka": (REPO,)},
    ),
    # The time-series spec file (schema.spec) and what it names.
    spec_case(
        "spec-unknown-source-table",
        replaced("source: telemetry.vehicle_telemetry", "source: telemetry.vehicles"),
        "rollups[analytics.vehicle_hourly].source: 'telemetry.vehicles'; expected a hypertable "
        "or rollup of this spec: telemetry.vehicle_telemetry, factory_telemetry.metric_hist",
    ),
    spec_case(
        "spec-bucket-not-a-multiple",
        replaced(
            "bucket: 1 hour\n    query: rollups/metric_reaggregate.sql",
            "bucket: 90 seconds\n    query: rollups/metric_reaggregate.sql",
        ),
        "rollups[factory_telemetry.metric_1hour].bucket: '90 seconds'; expected a multiple of "
        "its source's bucket (factory_telemetry.metric_1min: 1 minute)",
    ),
    spec_case(
        "spec-bad-interval",
        replaced("chunk_interval: 1 hour", "chunk_interval: 1 month"),
        "hypertables[1].chunk_interval: '1 month'; expected an interval like '1 day'",
    ),
    spec_case(
        "spec-unknown-key",
        replaced("chunk_interval: 1 day", "chunk_intreval: 1 day"),
        "hypertables[0].chunk_intreval: an unknown key; expected no such key; did you mean "
        "'chunk_interval'?",
        "hypertables[0].chunk_interval: nothing; expected this key to be set",
    ),
    spec_case(
        "spec-rollup-cycle",
        replaced(
            "source: factory_telemetry.metric_hist\n", "source: factory_telemetry.metric_1day\n"
        ),
        "rollups[factory_telemetry.metric_1min].source: factory_telemetry.metric_1min -> "
        "factory_telemetry.metric_1day -> factory_telemetry.metric_1hour -> "
        "factory_telemetry.metric_1min; expected rollups that do not read from themselves",
    ),
    spec_case(
        "spec-refresh-window-too-small",
        replaced("start_offset: 10 minutes", "start_offset: 2 minutes"),
        "rollups[factory_telemetry.metric_1min].refresh.start_offset: '2 minutes'; expected "
        "at least end_offset + 2 x bucket (1 minute)",
    ),
    spec_case(
        "spec-query-file-missing",
        replaced("query: rollups/vehicle_hourly.sql", "query: rollups/_none.sql"),
        "rollups[analytics.vehicle_hourly].query: 'rollups/_none.sql'; expected an "
        "existing file, relative to the spec file's folder ",
    ),
    spec_case(
        "spec-index-predicate-not-immutable",
        replaced('where: "gps_status = \'A\'"', "where: \"time > now() - interval '24 hours'\""),
        "hypertables[telemetry.vehicle_telemetry].indexes[vehicle_telemetry_gps_ok_idx].where: "
        "\"time > now() - interval '24 hours'\"; expected an IMMUTABLE predicate: PostgreSQL "
        "refuses now() in an index (its value moves with the clock)",
    ),
    spec_case(
        "spec-invalid-yaml",
        replaced("rollups:\n", "rollups: [\n"),
        "(file): invalid YAML at line ",
    ),
    case(
        "spec-file-missing",
        DB, {"schema": {"spec": "sql/_bad_inputs_absent.yml"}},
        f"schema.spec: got sql/_bad_inputs_absent.yml: (file): no such file; expected a "
        f"YAML time-series spec file with the keys hypertables and rollups, like "
        f"sql/timeseries.yml; relative paths start at {ROOT}",
    ),
    case(
        "spec-is-a-directory",
        DB, {"schema": {"spec": "sql/rollups"}},
        "schema.spec: got sql/rollups: (file): a directory; expected a YAML time-series "
        "spec file",
    ),
    # Monitoring: an exporter Timestack does not know, thresholds out of range, an alert
    # window for no alert, an agent version whose checksum nobody pinned.
    case(
        "unknown-exporter",
        REPO, {"monitoring": {"exporters": ["node", "mysql"]}},
        "monitoring.exporters[1]: got 'mysql'; expected one of: node, postgres, pgbouncer, "
        "pgbackrest, kafka",
    ),
    case(
        "threshold-out-of-range",
        REPO, {"monitoring": {"thresholds": {"disk_free": 1.5, "kafka_consumer_lag": 0}}},
        "monitoring.thresholds.disk_free: got 1.5; expected a number > 0 and < 1",
        "monitoring.thresholds.kafka_consumer_lag: got 0; expected an integer 1-1000000000000",
    ),
    case(
        "alert-window-for-no-alert",
        REPO, {"monitoring": {"alert_for": {"KafkaBrokerGone": "1min"}}},
        "monitoring.alert_for[KafkaBrokerGone]: got 'KafkaBrokerGone'; expected one of: ",
    ),
    case(
        "jmx-agent-version-without-checksum",
        KAFKA, {"kafka": {"jmx_exporter": {"version": "1.9.0",
                                           "jar": "https://repo.example.net/agent.jar"}}},
        "kafka.jmx_exporter.jar_sha512: got nothing; expected the SHA-512 of "
        "jmx_prometheus_javaagent-1.9.0.jar",
    ),
]  # fmt: skip


@contextmanager
def inventory_for(case: Case) -> Iterator[Path]:
    """The case's inventory (and spec file, when it has one), removed afterwards."""
    spec = ROOT / spec_file(case.id)
    hosts = {name: deep_merge(VALID[name], case.hosts.get(name, {})) for name in VALID}
    if case.spec:
        spec.write_text(case.spec((ROOT / "sql/timeseries.yml").read_text()))
        hosts[DB] = deep_merge(hosts[DB], {"schema": {"spec": spec_file(case.id)}})
    try:
        with lab_variant(f"bad_inputs_{case.id.replace('-', '_')}", hosts, case.joined) as path:
            yield path
    finally:
        spec.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def lab_state(lab: str, request: pytest.FixtureRequest) -> dict[str, Snapshot]:
    """The latest snapshot, checked to mean something: every host has the files it must
    cover (the lab is deployed, by first_deploy if it was not), and VALID alone passes
    validation and would rewrite each host's limits file."""
    assert UNSET_ENV not in os.environ
    state = snapshot()
    if any(f"{host} {path}" not in state for host, paths in REQUIRED.items() for path in paths):
        request.getfixturevalue("first_deploy")
        state = snapshot()
    with lab_variant("bad_inputs_valid", VALID) as inventory:
        specs = {target.short_name: target.spec for target in load_targets(ROOT / inventory)}
    assert {name: specs[name].common.nofile for name in VALID} == dict.fromkeys(VALID, NOFILE)
    assert specs[DB].postgres.settings["work_mem"] == "5MB"
    assert specs[KAFKA].kafka.settings["num.io.threads"] == "9"
    assert specs[REPO].backup.retention_full == 3
    rewritten = hashlib.sha256(render("common/limits.conf.j2", nofile=NOFILE).encode())
    for host, paths in REQUIRED.items():
        missing = [path for path in paths if f"{host} {path}" not in state]
        assert not missing, f"{host} lacks {missing} after a deploy"
        assert not state[f"{host} {LIMITS_FILE}"].endswith(rewritten.hexdigest()), host
    return {"latest": state}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_before_any_host_changes(
    case: Case, lab_state: dict[str, Snapshot]
) -> None:
    before = lab_state["latest"]  # taken when the previous case ended; nothing ran since
    with inventory_for(case) as inventory:
        run = run_pyinfra(inventory, env=case.env)
    after = lab_state["latest"] = snapshot()
    report = run.output[-4000:]
    assert run.returncode != 0, report
    missing = [text for text in case.expected if text not in run.output]
    assert not missing, f"not in the report: {missing}\n{report}"
    assert "Traceback" not in run.output, report
    assert run.operations == {}, f"operations ran: {run.operations}"
    assert changes(before, after) == [], "managed files or the ledger changed"
