"""roles.spec: host data validation, error reports, secrets, group_data defaults."""

from __future__ import annotations

import copy
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from roles.spec import (
    FieldError,
    HostInput,
    HostSpec,
    SpecError,
    parse_size,
    validate_inventory,
)

GROUP_DATA = Path(__file__).resolve().parents[2] / "inventory" / "group_data"
DB = "@docker/ts-db1"
ALL_IN_ONE = frozenset({"timescaledb", "pgbouncer", "kafka"})
APP_SECRET = "app-Pa55word-from-env"
PLAIN_SECRET = "plain-Pa55word-in-data"
ENV = {
    "TS_TEST_OWNER_PW": "owner-Pa55word-from-env",
    "TS_TEST_APP_PW": APP_SECRET,
    "TS_TEST_AUTH_PW": "auth-Pa55word-from-env",
}


@pytest.fixture(autouse=True)
def _passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TS_TEST_MISSING", raising=False)


def good_data() -> dict[str, Any]:
    """One host running PostgreSQL, pgBouncer and Kafka; backups stay local."""
    return {
        "_sudo": True,
        "ssh_user": "admin",
        "docker_identifier": "ts-db1",
        "common": {"timezone": "Europe/Berlin", "sysctl": {"vm.dirty_ratio": 10}},
        "postgres": {
            "postgis": True,
            "port": 5433,
            "listen_addresses": ["localhost", "10.20.0.5"],
            "tuning": {"memory": "64GiB", "cpus": 20, "disk": "ssd", "reserve": "4GiB"},
            "hba": [
                {
                    "type": "host",
                    "database": "telemetry",
                    "user": "all",
                    "address": "127.0.0.1",
                    "allow_without_tls": True,
                },
                {"database": "all", "user": "+readers", "address": "10.20.0.0/24"},
            ],
            "roles": [
                {"name": "telemetry_owner", "password_env": "TS_TEST_OWNER_PW"},
                {"name": "telemetry_app", "password_env": "TS_TEST_APP_PW"},
                {"name": "readers", "login": False, "member_of": ["pg_read_all_data"]},
            ],
            "databases": [
                {"name": "telemetry", "owner": "telemetry_owner", "extensions": ["postgis"]}
            ],
            "settings": {"work_mem": "256MB", "jit": False, "random_page_cost": 1.1},
        },
        "pgbouncer": {"databases": [{"name": "telemetry"}], "stats_users": ["readers"]},
        "kafka": {
            "archive": "https://mirror.example.net/kafka_2.13-3.9.1.tgz",
            "archive_sha512": "AB" * 64,
            "cluster_id": "MkU3OEVBNTcwNTJENDM2Qg",
            "heap": "4GiB",
            "settings": {"num.io.threads": 16},
            "topics": [
                {"name": "vehicle-telemetry", "configs": {"retention.ms": 604800000}},
                {"name": "factory-metrics", "partitions": 20},
            ],
        },
        "backup": {"repo_type": "posix_local", "schedule": {"incr": "hourly"}},
        "schema": {"statement_timeout": "10min"},
    }


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Copy of data with "a.b.0.c" set to value (list indexes as numbers)."""
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def errors_of(
    data: dict[str, Any], groups: frozenset[str] = ALL_IN_ONE, name: str = DB
) -> tuple[FieldError, ...]:
    with pytest.raises(SpecError) as caught:
        validate_inventory([HostInput(name, groups, data)])
    return caught.value.errors


Change = Callable[[dict[str, Any]], dict[str, Any]]


def put(path: str, value: Any) -> Change:
    return lambda data: set_path(data, path, value)


def append(path: str, item: Any) -> Change:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        data = copy.deepcopy(data)
        node: Any = data
        for part in path.split("."):
            node = node[part]
        node.append(item)
        return data

    return change


BAD = [
    # (change, field path, text the expected/fix must contain)
    (put("common.timezone", "Europe Berlin"), "common.timezone", "IANA time zone"),
    (put("common.apt_cache_seconds", -1), "common.apt_cache_seconds", "an integer >= 0"),
    (put("common.nofile", 512), "common.nofile", ">= 1024"),
    (
        put("common.transparent_hugepages", "always"),
        "common.transparent_hugepages",
        "one of: never, madvise",
    ),
    (put("common.sysctl", {"swappiness": 1}), "common.sysctl[swappiness]", "dotted sysctl"),
    (put("common.base_packages", ["chrony=4.3"]), "common.base_packages[0]", "Debian package"),
    (put("postgres.version", 12), "postgres.version", "an integer 13-18"),
    (put("postgres.port", 70000), "postgres.port", "an integer 1-65535"),
    (put("postgres.source", "pgdg"), "postgres.source", "one of: timescale, debian"),
    (
        put("postgres.listen_addresses", ["localhost", "db.example"]),
        "postgres.listen_addresses[1]",
        '"localhost" or "*"',
    ),
    (put("postgres.data_directory", "srv/pg"), "postgres.data_directory", "absolute path"),
    (put("postgres.max_connections", 5), "postgres.max_connections", ">= 10"),
    (put("postgres.tuning.memory", "lots"), "postgres.tuning.memory", "4GiB"),
    (put("postgres.tuning.reserve", "64GiB"), "postgres.tuning.reserve", "less than tuning.memory"),
    (put("postgres.tuning.disk", "floppy"), "postgres.tuning.disk", "one of: hdd, ssd, nvme"),
    (put("postgres.hba.0.method", "trust"), "postgres.hba[0].method", "without a password"),
    (put("postgres.hba.0.method", "md5"), "postgres.hba[0].method", "scram-sha-256 (md5"),
    (put("postgres.hba.0.method", "password"), "postgres.hba[0].method", "clear text"),
    (
        put("postgres.hba.1.address", "10.20.0.7/24"),
        "postgres.hba[1].address",
        "did you mean 10.20.0.0/24",
    ),
    (put("postgres.hba.1.address", "0.0.0.0/0"), "postgres.hba[1].address", "allow_any_address"),
    (put("postgres.hba.1.type", "local"), "postgres.hba[1].type", "one of: host, hostssl"),
    (
        put("postgres.hba.1.metod", "scram-sha-256"),
        "postgres.hba[1].metod",
        "did you mean 'method'",
    ),
    (
        put("postgres.roles.1.superuser", True),
        "postgres.roles[telemetry_app].superuser",
        "never creates superusers",
    ),
    (
        put("postgres.roles.1.name", "Telemetry-App"),
        "postgres.roles[Telemetry-App].name",
        "lowercase PostgreSQL name",
    ),
    (
        put("postgres.roles.1.password_env", "TS_TEST_MISSING"),
        "postgres.roles[telemetry_app].password_env",
        "TS_TEST_MISSING to be set",
    ),
    (
        put("postgres.roles.1", {"name": "telemetry_app"}),
        "postgres.roles[telemetry_app].password_env",
        "login: false",
    ),
    (
        put("postgres.roles.2.member_of", ["writers"]),
        "postgres.roles[readers].member_of",
        "pg_* role",
    ),
    (
        append("postgres.roles", {"name": "readers", "login": False}),
        "postgres.roles[readers]",
        "declared once",
    ),
    (
        put("postgres.databases.0.owner", "nobody"),
        "postgres.databases[telemetry].owner",
        "telemetry_owner, telemetry_app",
    ),
    (
        append("postgres.databases", {"name": "telemetry", "owner": "telemetry_owner"}),
        "postgres.databases[telemetry]",
        "declared once",
    ),
    (
        put("postgres.postgis", False),
        "postgres.databases[telemetry].extensions",
        "postgres.postgis: true",
    ),
    (put("postgres.settings", {"port": 5434}), "postgres.settings[port]", "set postgres.port"),
    (put("postgres.settings", {"work mem": 1}), "postgres.settings[work mem]", "setting name"),
    (
        put("pgbouncer.pool_mode", "txn"),
        "pgbouncer.pool_mode",
        "one of: session, transaction, statement",
    ),
    (put("pgbouncer.listen_addr", "localhost"), "pgbouncer.listen_addr", "an IP address"),
    (put("pgbouncer.listen_port", 5433), "pgbouncer.listen_port", "other than postgres.port"),
    (put("pgbouncer.auth_user", "telemetry_app"), "pgbouncer.auth_user", "not in postgres.roles"),
    (
        put("pgbouncer.databases", [{"name": "telemetry", "host": "db9.example.net"}]),
        "pgbouncer.databases[telemetry].host",
        "remote servers are not supported",
    ),
    (
        put("pgbouncer.databases", [{"name": "telemetry", "port": 0}]),
        "pgbouncer.databases[telemetry].port",
        "an integer 1-65535",
    ),
    (
        put("pgbouncer.client_tls_sslmode", "on"),
        "pgbouncer.client_tls_sslmode",
        "one of: disable, allow, prefer, require, verify-ca, verify-full",
    ),
    (
        put("postgres.hba.1.type", "host"),
        "postgres.hba[1].type",
        "set allow_without_tls: true",
    ),
    (
        put("pgbouncer.client_tls_sslmode", "disable"),
        "pgbouncer.client_tls_sslmode",
        "postgres.hba[1] is hostssl",
    ),
    (
        put("kafka.topics.0.partitions", 0),
        "kafka.topics[vehicle-telemetry].partitions",
        "an integer >= 1",
    ),
    (
        put("kafka.topics.1.name", "factory metrics!"),
        "kafka.topics[factory metrics!].name",
        "Kafka topic name",
    ),
    (put("kafka.topics.1.name", ".."), "kafka.topics[..].name", 'not "." or ".."'),
    (
        append("kafka.topics", {"name": "vehicle-telemetry"}),
        "kafka.topics[vehicle-telemetry]",
        "declared once",
    ),
    (
        put("kafka.topics", [{"name": "fleet.gps"}, {"name": "fleet_gps"}]),
        "kafka.topics[fleet_gps]",
        "differs from 'fleet.gps' in more than . versus _",
    ),
    (
        put("kafka.topics.0.replication_factor", 3),
        "kafka.topics[vehicle-telemetry].replication_factor",
        "at most 1",
    ),
    (
        put("kafka.topics.0.state", "gone"),
        "kafka.topics[vehicle-telemetry].state",
        "one of: present, absent",
    ),
    (put("kafka.topics", {"vehicle-telemetry": {}}), "kafka.topics", "a list"),
    (put("kafka.archive_sha512", None), "kafka.archive_sha512", "whenever archive is a URL"),
    (put("kafka.archive_sha512", "abc123"), "kafka.archive_sha512", "128 hexadecimal"),
    (put("kafka.archive", "http://mirror.example.net/k.tgz"), "kafka.archive", "https:// URL"),
    (put("kafka.cluster_id", "my-cluster"), "kafka.cluster_id", "22-character"),
    (put("kafka.version", "2.8.2"), "kafka.version", "KRaft"),
    (put("kafka.controller_port", 9092), "kafka.controller_port", "other than kafka.port"),
    (put("kafka.data_dirs", []), "kafka.data_dirs", "at least 1"),
    (put("kafka.heap", "4 gigs"), "kafka.heap", "a size like"),
    (
        put("kafka.settings", {"log.dirs": "/data"}),
        "kafka.settings[log.dirs]",
        "set kafka.data_dirs",
    ),
    (
        put("kafka.settings", {"default.replication.factor": 3}),
        "kafka.settings[default.replication.factor]",
        "at most 1, the number of hosts in group kafka",
    ),
    (
        put("kafka.settings", {"min.insync.replicas": "two"}),
        "kafka.settings[min.insync.replicas]",
        "a whole number of replicas",
    ),
    (
        put("kafka.topics.0.configs", {"min.insync.replicas": 2}),
        "kafka.topics[vehicle-telemetry].configs[min.insync.replicas]",
        "at most the topic's replication_factor (1)",
    ),
    (
        put("kafka.topics.0.configs", {"retension.ms": 1}),
        "kafka.topics[vehicle-telemetry].configs[retension.ms]",
        "no such topic config; did you mean 'retention.ms'?",
    ),
    (
        put("kafka.topics.0.configs", {"no.such.setting": 1}),
        "kafka.topics[vehicle-telemetry].configs[no.such.setting]",
        "a topic-level config Kafka knows: cleanup.policy, compression.type",
    ),
    (
        put("kafka.topics.0.configs", {"retention.ms": "7d"}),
        "kafka.topics[vehicle-telemetry].configs[retention.ms]",
        "a whole number of milliseconds, -1 or more (-1: no time limit",
    ),
    (
        put("kafka.topics.0.configs", {"retention.ms": -2}),
        "kafka.topics[vehicle-telemetry].configs[retention.ms]",
        "milliseconds, -1 or more",
    ),
    (
        put("kafka.topics.0.configs", {"segment.bytes": 2**31}),
        "kafka.topics[vehicle-telemetry].configs[segment.bytes]",
        "a whole number of bytes, 14 or more",
    ),
    (
        put("kafka.topics.0.configs", {"compression.type": "brotli"}),
        "kafka.topics[vehicle-telemetry].configs[compression.type]",
        "one of: uncompressed, zstd, lz4, snappy, gzip, producer",
    ),
    (
        put("kafka.topics.0.configs", {"cleanup.policy": "compact,archive"}),
        "kafka.topics[vehicle-telemetry].configs[cleanup.policy]",
        'delete, compact, or both as "compact,delete"',
    ),
    (
        put("kafka.topics.0.configs", {"message.timestamp.type": "createtime"}),
        "kafka.topics[vehicle-telemetry].configs[message.timestamp.type]",
        "one of: CreateTime, LogAppendTime",
    ),
    (
        put("kafka.topics.0.configs", {"unclean.leader.election.enable": "yes"}),
        "kafka.topics[vehicle-telemetry].configs[unclean.leader.election.enable]",
        "true or false",
    ),
    (
        put("kafka.topics.0.configs", {"min.cleanable.dirty.ratio": 1.5}),
        "kafka.topics[vehicle-telemetry].configs[min.cleanable.dirty.ratio]",
        "a number from 0 to 1",
    ),
    (
        put("kafka.topics.0.configs", {"retention.ms": [604800000]}),
        "kafka.topics[vehicle-telemetry].configs[retention.ms]",
        "a value as Kafka spells it: a string, a number or true/false",
    ),
    (put("kafka.java_package", "openjdk 21"), "kafka.java_package", "Debian package name"),
    (put("kafka.nofile", 100), "kafka.nofile", ">= 1024"),
    (put("kafka.log_dir", "var/log/kafka"), "kafka.log_dir", "absolute path"),
    (put("backup.repo_type", "s3"), "backup.s3", "since repo_type is s3"),
    (put("backup.repo_type", "nfs"), "backup.repo_type", "one of: posix, posix_local, s3"),
    (put("backup.repo_host", "ts-backup1"), "backup.repo_host", "posix_local"),
    (put("backup.repo_type", "posix"), "backup.repo_host", "(none in the inventory)"),
    (put("backup.compress_type", "bz2"), "backup.compress_type", "one of: zst, lz4, gz"),
    (put("backup.retention_full", 0), "backup.retention_full", "an integer >= 1"),
    (put("backup.schedule.full", "Sun; rm -rf /"), "backup.schedule.full", "OnCalendar"),
    (
        put("backup.s3", {"bucket": "b", "region": "eu-central-1"}),
        "backup.s3.bucket",
        "S3 bucket name",
    ),
    (put("schema.database", "metrics"), "schema.database", "postgres.databases: telemetry"),
    (put("schema.statement_timeout", "5 minutes"), "schema.statement_timeout", "duration"),
    (put("postgress", {}), "postgress", "did you mean 'postgres'"),
    (put("telemetry", {}), "telemetry", "known sections: common, postgres"),
]


@pytest.mark.parametrize(("change", "field", "expected"), BAD)
def test_bad_value_is_reported_with_host_field_and_fix(
    change: Change, field: str, expected: str
) -> None:
    errors = errors_of(change(good_data()))
    matching = [error for error in errors if error.field == field]
    assert matching, f"no error for {field}; got: {[str(e) for e in errors]}"
    assert all(error.host == DB for error in errors)
    assert any(expected in error.expected for error in matching), [str(e) for e in matching]
    assert str(matching[0]).startswith(f"{DB}: {field}: got ")


def test_pool_arithmetic_is_spelled_out() -> None:
    data = set_path(good_data(), "pgbouncer.default_pool_size", 100)
    data = set_path(data, "pgbouncer.databases", [{"name": "telemetry"}, {"name": "archive"}])
    (error,) = [e for e in errors_of(data) if e.field == "pgbouncer.default_pool_size"]
    assert error.got == (
        "(default_pool_size 100 + reserve_pool_size 10) x 2 pgbouncer databases"
        " = 220 server connections"
    )
    assert error.expected.startswith(
        "at most postgres.max_connections 200 - superuser_reserved_connections 3 = 197"
    )


def test_client_slot_arithmetic_is_spelled_out() -> None:
    data = set_path(good_data(), "pgbouncer.max_client_conn", 1000)
    (error,) = [e for e in errors_of(data) if e.field == "pgbouncer.max_client_conn"]
    assert error.got == "1000"
    assert error.expected.startswith(
        "at least pgbouncer.clients 1000 + Timestack's own clients 4 (exporter 1 + deploy 1 + "
        "verify 1 + operator 1) = 1004"
    )
    data = set_path(good_data(), "pgbouncer.max_client_conn", 1004)
    assert validate_inventory([HostInput(DB, ALL_IN_ONE, data)])[DB].pgbouncer.client_limit == 1004


def test_pool_arithmetic_only_applies_where_both_run() -> None:
    data = set_path(good_data(), "pgbouncer.default_pool_size", 500)
    specs = validate_inventory([HostInput("@local", frozenset({"pgbouncer", "kafka"}), data)])
    assert specs["@local"].pgbouncer.default_pool_size == 500


def test_errors_of_every_host_are_reported_at_once() -> None:
    second = set_path(good_data(), "kafka.topics.0.partitions", -3)
    second = set_path(second, "common.nofile", 10)
    hosts = [
        HostInput("db1", ALL_IN_ONE, set_path(good_data(), "postgres.port", "five")),
        HostInput("db2", ALL_IN_ONE, set_path(second, "backup.compress_type", "xz")),
        HostInput("fine", ALL_IN_ONE, good_data()),
    ]
    with pytest.raises(SpecError) as caught:
        validate_inventory(hosts)
    found = {(e.host, e.field) for e in caught.value.errors}
    assert found >= {
        ("db1", "postgres.port"),
        ("db2", "kafka.topics[vehicle-telemetry].partitions"),
        ("db2", "common.nofile"),
        ("db2", "backup.compress_type"),
    }
    assert "fine" not in {e.host for e in caught.value.errors}
    report = str(caught.value).splitlines()
    assert report[0] == f"Invalid Timestack host data: {len(caught.value.errors)} errors on 2 hosts"
    assert report[1:] == [f"  {e}" for e in caught.value.errors]


def test_cross_field_errors_show_even_next_to_field_errors() -> None:
    data = set_path(good_data(), "common.nofile", 1)
    data = set_path(data, "kafka.topics.1.name", "vehicle-telemetry")
    fields = {e.field for e in errors_of(data)}
    assert {"common.nofile", "kafka.topics[vehicle-telemetry]"} <= fields


def test_replication_factor_counts_every_kafka_host() -> None:
    data = set_path(good_data(), "kafka.topics.0.replication_factor", 3)
    brokers = [HostInput(f"k{n}", frozenset({"kafka"}), {}) for n in (2, 3)]
    specs = validate_inventory([HostInput(DB, ALL_IN_ONE, data), *brokers])
    assert specs[DB].kafka.topics[0].replication_factor == 3
    with pytest.raises(SpecError) as caught:
        validate_inventory([HostInput(DB, ALL_IN_ONE, data), brokers[0]])
    assert "at most 2, the number of hosts in group kafka" in str(caught.value)


def test_topic_configs_kafka_accepts_pass() -> None:
    configs = {
        "cleanup.policy": "compact, delete",
        "compression.type": "zstd",
        "compression.zstd.level": -1,
        "retention.ms": -1,
        "retention.bytes": 10 * 1024**3,
        "local.retention.ms": -2,
        "segment.ms": 3600000,
        "max.message.bytes": 1048588,
        "min.insync.replicas": 1,
        "min.cleanable.dirty.ratio": 0.25,
        "message.timestamp.type": "LogAppendTime",
        "unclean.leader.election.enable": False,
        "preallocate": "TRUE",
        "message.format.version": "3.0-IV1",
        "leader.replication.throttled.replicas": "*",
    }
    data = set_path(good_data(), "kafka.topics.0.configs", configs)
    spec = validate_inventory([HostInput(DB, ALL_IN_ONE, data)])[DB]
    assert spec.kafka.topics[0].configs["unclean.leader.election.enable"] == "false"
    assert spec.kafka.topics[0].configs["min.cleanable.dirty.ratio"] == "0.25"


def test_kafka_node_ids_are_unique_across_hosts() -> None:
    hosts = [HostInput(f"k{n}", frozenset({"kafka"}), {"kafka": {"node_id": 1}}) for n in (1, 2)]
    hosts.append(HostInput("k3", frozenset({"kafka"}), {"kafka": {"node_id": 3}}))
    with pytest.raises(SpecError) as caught:
        validate_inventory(hosts)
    (error,) = caught.value.errors
    assert (error.host, error.field, error.expected) == (
        "k2",
        "kafka.node_id",
        "a node id no other kafka host uses (k1 has it)",
    )


def test_derived_kafka_node_id_may_not_collide_with_a_set_one() -> None:
    """Unset node ids are positions in group kafka: k3's 3 is already k1's."""
    hosts = [
        HostInput("k1", frozenset({"kafka"}), {"kafka": {"node_id": 3}}),
        HostInput("k2", frozenset({"kafka"}), {}),
        HostInput("k3", frozenset({"kafka"}), {}),
    ]
    with pytest.raises(SpecError) as caught:
        validate_inventory(hosts)
    (error,) = caught.value.errors
    assert (error.host, error.field, error.got) == (
        "k3",
        "kafka.node_id",
        "3 (its position in group kafka)",
    )


def test_two_kafka_hosts_are_refused_as_a_quorum() -> None:
    hosts = [HostInput(f"k{n}", frozenset({"kafka"}), {}) for n in (1, 2)]
    with pytest.raises(SpecError) as caught:
        validate_inventory(hosts)
    (error,) = caught.value.errors
    assert (error.host, error.field, error.got) == ("k2", "group kafka", "2 hosts")
    assert "1 host, or 3 or more" in error.expected
    brokers = validate_inventory([*hosts, HostInput("k3", frozenset({"kafka"}), {})])
    assert len(brokers) == 3


def test_backup_repo_host_comes_from_group_pgbackrest_repo() -> None:
    data = set_path(good_data(), "backup", {})
    repo = HostInput("ts-backup1", frozenset({"pgbackrest_repo"}), {})
    specs = validate_inventory([HostInput(DB, ALL_IN_ONE, data), repo])
    assert specs[DB].backup.repo_type == "posix"
    assert specs[DB].backup.repo_host == "ts-backup1"

    wrong = set_path(data, "backup.repo_host", "ts-db2")
    with pytest.raises(SpecError) as caught:
        validate_inventory([HostInput(DB, ALL_IN_ONE, wrong), repo])
    (error,) = caught.value.errors
    assert error.field == "backup.repo_host"
    assert "a host in group pgbackrest_repo: ts-backup1" in error.expected


SECRETS = [APP_SECRET, PLAIN_SECRET, "typo-Pa55word", "12345678"]


def test_secrets_never_appear_in_errors_or_reprs() -> None:
    data = good_data()
    data["postgres"]["roles"] += [
        {"name": "plain", "password": PLAIN_SECRET, "pasword": "typo-Pa55word"},
        {"name": "numeric", "password": 12345678},
    ]
    data = set_path(data, "postgres.port", 0)
    host = HostInput(DB, ALL_IN_ONE, data)
    with pytest.raises(SpecError) as caught:
        validate_inventory([host])
    texts = [str(caught.value), repr(caught.value), repr(caught.value.errors), repr(host)]
    assert "postgres.roles[numeric].password: got <secret>" in str(caught.value)
    assert "postgres.roles[plain].pasword: got an unknown key" in str(caught.value)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_secrets_are_hidden_in_a_valid_spec_but_readable_on_purpose() -> None:
    data = good_data()
    data["postgres"]["roles"].append({"name": "plain", "password": PLAIN_SECRET})
    spec = validate_inventory([HostInput(DB, ALL_IN_ONE, data)])[DB]
    for text in (repr(spec), str(spec), spec.model_dump_json()):
        assert APP_SECRET not in text
        assert PLAIN_SECRET not in text
    roles = {role.name: role for role in spec.postgres.roles}
    assert roles["telemetry_app"].secret() == APP_SECRET
    assert roles["plain"].secret() == PLAIN_SECRET
    assert roles["readers"].secret() is None


def test_s3_credentials_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_TEST_S3_KEY", "AKIAEXAMPLE")
    monkeypatch.setenv("TS_TEST_S3_SECRET", "s3-Secr3t")
    s3 = {"bucket": "ts-backups", "region": "eu-central-1", "key_env": "TS_TEST_S3_KEY",
          "secret_env": "TS_TEST_S3_SECRET"}  # fmt: skip
    data = set_path(good_data(), "backup", {"repo_type": "s3", "s3": s3})
    backup = validate_inventory([HostInput(DB, ALL_IN_ONE, data)])[DB].backup
    assert backup.s3 is not None
    assert backup.s3.credentials() == ("AKIAEXAMPLE", "s3-Secr3t")
    assert "s3-Secr3t" not in repr(backup)


def test_defaults_fill_every_section() -> None:
    spec = validate_inventory([HostInput("@local", frozenset(), {})])["@local"]
    assert spec.common.timezone == "UTC"
    assert spec.common.sysctl["vm.swappiness"] == 1
    assert (spec.postgres.version, spec.postgres.port) == (17, 5432)
    assert spec.postgres.data_dir == "/var/lib/postgresql/17/main"
    assert (spec.pgbouncer.pool_mode, spec.pgbouncer.clients) == ("transaction", 1000)
    assert spec.pgbouncer.client_limit == 1004
    assert (spec.pgbouncer.default_pool_size, spec.pgbouncer.reserve_pool_size) == (50, 10)
    assert spec.kafka.archive_url == (
        "https://archive.apache.org/dist/kafka/4.4.0/kafka_2.13-4.4.0.tgz"
    )
    assert spec.backup.schedule.full == "Sun *-*-* 01:00:00"
    assert spec.schema_.database == "telemetry"


def test_values_are_normalised() -> None:
    spec = validate_inventory([HostInput(DB, ALL_IN_ONE, good_data())])[DB]
    assert spec.postgres.tuning.memory == 64 * 1024**3
    assert spec.postgres.hba[0].address == "127.0.0.1/32"
    assert spec.common.sysctl["vm.dirty_ratio"] == 10
    assert spec.common.sysctl["net.core.somaxconn"] == 4096  # defaults stay under user keys
    assert spec.kafka.archive_sha512 == "ab" * 64
    assert spec.kafka.topics[0].configs == {"retention.ms": "604800000"}
    assert spec.kafka.settings == {"num.io.threads": "16"}
    (pooled,) = spec.pgbouncer.databases
    assert (pooled.port, pooled.dbname) == (5433, "telemetry")  # from postgres.port and name


def test_good_input_round_trips() -> None:
    spec = validate_inventory([HostInput(DB, ALL_IN_ONE, good_data())])[DB]
    assert HostSpec.model_validate(spec.model_dump(by_alias=True)) == spec
    assert HostSpec.model_validate_json(spec.model_dump_json(by_alias=True)) == spec
    data = spec.model_dump(by_alias=True, exclude={"name", "groups"})
    assert validate_inventory([HostInput(DB, ALL_IN_ONE, data)])[DB] == spec


def test_hostspec_alone_defaults_pgbouncer_ports_to_postgres_port() -> None:
    spec = HostSpec.model_validate(
        {"name": "x", "postgres": {"port": 5544}, "pgbouncer": {"databases": [{"name": "db"}]}}
    )
    assert spec.pgbouncer.databases[0].port == 5544


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 1024**3), ("4GB", 4 * 1024**3), ("512MB", 512 * 1024**2),
     ("512MiB", 512 * 1024**2), ("64kB", 65536), ("1KiB", 1024), ("2TiB", 2 * 1024**4),
     ("1.5GiB", 1536 * 1024**2), ("4096", 4096), (8192, 8192), (" 2 TB ", 2 * 1024**4)],
)  # fmt: skip
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "4 XB", "-1GB", "four", True])
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="a size like 4GiB"):
        parse_size(text)


def group_data(name: str) -> dict[str, Any]:
    """A group data file's host data, as pyinfra loads it (dunder names dropped)."""
    names = runpy.run_path(str(GROUP_DATA / f"{name}.py"))
    return {key: value for key, value in names.items() if not key.startswith("__")}


def test_group_data_defaults_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {path.stem: group_data(path.stem) for path in GROUP_DATA.glob("*.py")}
    assert set(files) >= {"all", "timescaledb", "pgbouncer", "kafka", "pgbackrest_repo"}
    for name, data in files.items():
        assert not [key for key in data if key.startswith("_")], f"{name}.py leaks helper names"
    password_envs = [role["password_env"] for role in files["timescaledb"]["postgres"]["roles"]]
    assert "TIMESTACK_PG_OWNER_PASSWORD" in password_envs
    for env in password_envs:
        monkeypatch.setenv(env, f"test-{env}")

    def host(name: str, *groups: str) -> HostInput:
        data: dict[str, Any] = dict(files["all"])
        for group in groups:
            data.update(files[group])  # the group files set disjoint sections
        return HostInput(name, frozenset(groups), data)

    specs = validate_inventory(
        [
            host("@docker/ts-db1", "timescaledb", "pgbouncer"),
            *(host(f"@docker/ts-kafka{n}", "kafka") for n in (1, 2, 3)),
            host("@docker/ts-backup1", "pgbackrest_repo"),
        ]
    )
    db, kafka = specs["@docker/ts-db1"], specs["@docker/ts-kafka1"]
    assert db.postgres.databases[0].extensions == ["timescaledb", "postgis"]
    assert db.backup.repo_host == "@docker/ts-backup1"
    assert [t.name for t in kafka.kafka.topics] == ["vehicle-telemetry", "factory-metrics"]
    assert {t.partitions for t in kafka.kafka.topics} == {10}
    assert {t.replication_factor for t in kafka.kafka.topics} == {3}
    assert kafka.kafka.topics[0].configs["retention.ms"] == str(7 * 24 * 3600 * 1000)
    assert kafka.kafka.topics[0].configs["min.insync.replicas"] == "2"
    assert db.postgres.roles[0].secret() == "test-TIMESTACK_PG_OWNER_PASSWORD"


def test_group_data_without_password_env_fails_naming_the_variable() -> None:
    data = {**group_data("all"), **group_data("timescaledb")}
    errors = errors_of(data, frozenset({"timescaledb"}))
    assert any(
        e.field == "postgres.roles[telemetry_owner].password_env"
        and "TIMESTACK_PG_OWNER_PASSWORD" in e.expected
        for e in errors
    )
