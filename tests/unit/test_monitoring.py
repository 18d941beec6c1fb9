"""The monitoring role without hosts: its spec section, exporters, scrape targets, files."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from lab import HOSTS
from lab.hosts import published_ports
from roles.monitoring import config, rules
from roles.monitoring.facts import ResolvedAddresses, TcpListeners
from roles.monitoring.operations import bound_as_wanted
from roles.spec import HostInput, HostSpec, SpecError, validate_inventory
from roles.templating import render

MONITOR_ROLE = {"name": "mon", "password": "pw-not-shown", "member_of": ["pg_monitor"]}


def db_data(role: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "postgres": {
            "roles": [{"name": "owner", "login": False}, role or MONITOR_ROLE],
            "databases": [{"name": "telemetry", "owner": "owner"}],
        },
        "monitoring": {"postgres_role": "mon"},
    }


def inventory(
    db: dict[str, Any] | None = None, mon: dict[str, Any] | None = None
) -> list[HostSpec]:
    hosts = [
        HostInput("@docker/db1", frozenset({"timescaledb", "pgbouncer"}), db or db_data()),
        HostInput("@docker/kafka1", frozenset({"kafka"}), {}),
        HostInput("@docker/backup1", frozenset({"pgbackrest_repo", "monitoring"}), mon or {}),
    ]
    return list(validate_inventory(hosts).values())


def test_exporters_by_group() -> None:
    assert [e.job for e in config.exporters({"kafka"})] == ["node"]
    assert [e.job for e in config.exporters({"timescaledb", "pgbouncer"})] == [
        "node",
        "postgres",
        "pgbouncer",
        "pgbackrest",
    ]


def test_scrape_targets_are_the_addresses_exporters_bind_to() -> None:
    specs = inventory(mon={"monitoring": {"prometheus": {"listen_address": "backup1"}}})
    jobs = {job["job_name"]: job["static_configs"] for job in config.scrape_configs(specs)}
    assert [c["targets"] for c in jobs["node"]] == [["db1:9100"], ["kafka1:9100"], ["backup1:9100"]]
    assert jobs["postgres"] == [{"targets": ["db1:9187"], "labels": {"host": "db1"}}]
    assert jobs["prometheus"][0]["targets"] == ["backup1:9090"]
    defaults = config.defaults_file(config.EXPORTERS[0], specs[0])
    assert defaults == "ARGS=--web.listen-address=db1:9100\n"


def test_postgres_exporter_defaults_name_the_password_file_not_the_password() -> None:
    db = inventory()[0]
    text = config.defaults_file(config.EXPORTERS[1], db)
    assert f"DATA_SOURCE_PASS_FILE={config.PG_PASSWORD_FILE}" in text
    assert "DATA_SOURCE_USER=mon" in text
    assert "pw-not-shown" not in text


def test_alertmanager_opens_no_cluster_listener() -> None:
    assert "--cluster.listen-address= " in config.alertmanager_defaults(inventory()[2]).replace(
        "'", " "
    )


@pytest.mark.parametrize(
    ("duration", "promql"), [("5min", "5m"), ("7d", "7d"), ("26h", "26h"), ("90s", "90s")]
)
def test_prometheus_durations(duration: str, promql: str) -> None:
    assert config.prometheus_duration(duration) == promql


def test_monitoring_role_must_be_a_pg_monitor_member() -> None:
    with pytest.raises(SpecError) as error:
        inventory(db=db_data({"name": "mon", "password": "x", "member_of": []}))
    assert "@docker/db1: monitoring.postgres_role" in str(error.value)
    assert "pg_monitor" in str(error.value)


def test_monitoring_role_must_be_declared() -> None:
    data = db_data()
    data["monitoring"] = {"postgres_role": "nobody"}
    with pytest.raises(SpecError, match=r"a role declared in postgres\.roles"):
        inventory(db=data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("disk_free", 1.5), ("cache_hit_ratio", 0), ("replication_lag", "soon")],
)
def test_bad_thresholds_are_refused_with_host_and_field(field: str, value: object) -> None:
    with pytest.raises(SpecError) as error:
        inventory(mon={"monitoring": {"thresholds": {field: value}}})
    assert f"@docker/backup1: monitoring.thresholds.{field}" in str(error.value)


def test_rules_take_thresholds_and_pool_sizes_from_host_data() -> None:
    specs = inventory(
        db={**db_data(), "pgbouncer": {"default_pool_size": 20}},
        mon={"monitoring": {"thresholds": {"disk_free": 0.25, "pool_saturation": 0.5}}},
    )
    monitor = specs[2]
    text = render(
        "monitoring/alerts.yml.j2", groups=rules.groups(monitor.monitoring.thresholds, specs)
    )
    loaded = yaml.safe_load(text)
    alerts = {r["alert"]: r for g in loaded["groups"] for r in g["rules"]}
    assert alerts["DiskFreeLow"]["expr"].endswith("< 0.25")
    assert '{host="db1"} >= 0.5 * 20' in alerts["PgbouncerPoolSaturated"]["expr"]
    assert "# threshold: below 25% free" in text


def test_every_rule_has_its_source_and_threshold_comment() -> None:
    text = render(
        "monitoring/alerts.yml.j2", groups=rules.groups(inventory()[2].monitoring.thresholds, [])
    )
    count = text.count("- alert: ")
    assert count == text.count("# source: ") == text.count("# threshold: ") > 10


def test_listeners_fact_and_the_listening_decision() -> None:
    listeners = TcpListeners().process(
        [
            "LISTEN 0 4096 172.29.44.3:9100 0.0.0.0:*",
            "LISTEN 0 4096 *:9187 *:*",
            "LISTEN 0 1 [::1]:9090 [::]:*",
        ]
    )
    assert listeners == {9100: {"172.29.44.3"}, 9187: {"*"}, 9090: {"::1"}}
    wanted = ResolvedAddresses().process(["172.29.44.3  STREAM db1", "172.29.44.3  DGRAM"])
    assert bound_as_wanted(listeners[9100], wanted)
    assert not bound_as_wanted(listeners[9187], wanted)  # Debian's every-address start
    assert not bound_as_wanted(frozenset(), wanted)  # not running yet


def test_lab_host_with_other_published_ports_is_told_apart() -> None:
    """`python -m lab up` recreates ts-backup1 made before Prometheus's port was published."""
    backup = next(h for h in HOSTS if "monitoring" in h.groups)
    before = {
        "HostConfig": {"PortBindings": {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "12221"}]}}
    }
    assert published_ports(before) == {22: 12221} != backup.published
    assert backup.published == {22: 12221, 9090: 19090}
    assert published_ports({"HostConfig": {"PortBindings": None}}) == {}


def exporter_queries() -> dict[str, Any]:
    text = render(
        "monitoring/postgres-exporter-queries.yml.j2",
        role="mon",
        min_age="7 days",
        top_statements=config.TOP_STATEMENTS,
    )
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def output_columns(sql: str) -> list[str]:
    """The names of a `SELECT … FROM` query's output columns, in order."""
    select, depth, parts, start = sql[len("SELECT ") : sql.index(" FROM ")], 0, [], 0
    for i, char in enumerate(select):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(select[start:i])
            start = i + 1
    parts.append(select[start:])
    return [re.split(r"[\s.]", part.strip())[-1] for part in parts]


def test_each_exporter_query_selects_exactly_its_declared_columns() -> None:
    # The exporter drops an undeclared column and logs a declared one it does not get.
    for name, query in exporter_queries().items():
        declared = [column for metric in query["metrics"] for column in metric]
        assert output_columns(query["query"]) == declared, name


def test_top_statements_are_bounded_and_labelled_without_their_text() -> None:
    top = exporter_queries()["timestack_statements"]
    usage = {column: m["usage"] for metric in top["metrics"] for column, m in metric.items()}
    assert usage == {
        "datname": "LABEL",
        "queryid": "LABEL",
        "calls": "COUNTER",
        "total_exec_seconds": "COUNTER",
        "mean_exec_seconds": "GAUGE",
        "rows": "COUNTER",
    }
    sql = top["query"]
    assert sql.endswith(f"ORDER BY total_exec_seconds DESC LIMIT {config.TOP_STATEMENTS}")
    # One row per label set (summed over roles), or the exporter rejects duplicate series.
    assert "GROUP BY d.datname, s.queryid" in sql
    # pg_stat_statements 1.8+ (PostgreSQL 13+) names; total_time is gone there.
    assert "s.total_exec_time" in sql and "s.total_time" not in sql
    assert "s.query " not in sql and "s.query," not in sql
