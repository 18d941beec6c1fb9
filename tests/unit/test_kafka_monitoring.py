"""Kafka under monitoring, without hosts: the JMX agent's jar and rules, the brokers'
scrape job, the lag collector's arithmetic and file, and the refusals of bad host data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from roles.kafka.archive import ArchiveError, resolve_jmx_agent
from roles.metrics import runs_kafka_agent
from roles.monitoring import config, kafka_lag, rules
from roles.spec import HostInput, HostSpec, KafkaSpec, SpecError, validate_inventory
from roles.spec.kafka import JMX_AGENT_SHA512, JMX_AGENT_VERSION
from roles.spec.monitoring import AlertName, Thresholds
from roles.templating import render


def inventory(
    kafka: dict[str, Any] | None = None, mon: dict[str, Any] | None = None
) -> dict[str, HostSpec]:
    hosts = [
        *(HostInput(f"@docker/kafka{n}", frozenset({"kafka"}), kafka or {}) for n in (1, 2, 3)),
        HostInput("@docker/mon1", frozenset({"monitoring"}), mon or {}),
    ]
    return validate_inventory(hosts)


def test_default_agent_comes_from_maven_central_with_its_checksum_pinned() -> None:
    agent = resolve_jmx_agent(KafkaSpec(), Path.cwd())
    assert agent.source == (
        "https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/"
        f"{JMX_AGENT_VERSION}/jmx_prometheus_javaagent-{JMX_AGENT_VERSION}.jar"
    )
    assert (agent.sha512, agent.local) == (JMX_AGENT_SHA512, False)
    assert agent.cached_path == f"/var/cache/timestack/kafka/{agent.file_name}"


def test_local_agent_jar_is_checksummed_here_and_names_its_field(tmp_path: Path) -> None:
    jar = tmp_path / "agent.jar"
    jar.write_bytes(b"PK not really a jar")
    agent = resolve_jmx_agent(KafkaSpec(jmx_exporter={"jar": str(jar)}), tmp_path)
    assert (agent.local, agent.sha512) == (True, hashlib.sha512(jar.read_bytes()).hexdigest())
    assert agent.field == "kafka.jmx_exporter.jar"
    with pytest.raises(ArchiveError, match=r"^kafka\.jmx_exporter\.jar_sha512: .* host data says"):
        resolve_jmx_agent(
            KafkaSpec(jmx_exporter={"jar": str(jar), "jar_sha512": "ab" * 64}), tmp_path
        )


def test_another_agent_version_from_a_url_needs_its_checksum() -> None:
    with pytest.raises(SpecError) as error:
        inventory(kafka={"kafka": {"jmx_exporter": {"version": "1.9.0"}}})
    assert "@docker/kafka1: kafka.jmx_exporter.jar_sha512: got nothing" in str(error.value)


def test_agent_port_may_not_be_a_kafka_listener() -> None:
    with pytest.raises(SpecError, match=r"kafka\.jmx_exporter\.port: got 9092"):
        inventory(kafka={"kafka": {"jmx_exporter": {"port": 9092}}})


def test_prometheus_scrapes_every_broker_where_its_agent_binds() -> None:
    specs = inventory(kafka={"kafka": {"jmx_exporter": {"port": 7199}}})
    jobs = {job["job_name"]: job["static_configs"] for job in config.scrape_configs(specs.values())}
    assert [c["targets"] for c in jobs["kafka"]] == [
        ["kafka1:7199"],
        ["kafka2:7199"],
        ["kafka3:7199"],
    ]


def test_exporters_host_data_keeps_only_those_named() -> None:
    specs = inventory(kafka={"monitoring": {"exporters": ["node"]}})
    jobs = {job["job_name"] for job in config.scrape_configs(specs.values())}
    assert "kafka" not in jobs and "node" in jobs
    assert not runs_kafka_agent(specs["@docker/kafka1"])


def test_an_unknown_exporter_is_refused_in_one_line() -> None:
    with pytest.raises(SpecError) as error:
        inventory(kafka={"monitoring": {"exporters": ["node", "mysql"]}})
    line = next(x for x in str(error.value).splitlines() if "monitoring.exporters" in x)
    assert line.strip() == (
        "@docker/kafka1: monitoring.exporters[1]: got 'mysql'; expected one of: node, "
        "postgres, pgbouncer, pgbackrest, kafka"
    )


def test_an_exporter_of_a_service_the_host_lacks_is_refused() -> None:
    with pytest.raises(SpecError, match=r"postgres needs group timescaledb"):
        inventory(kafka={"monitoring": {"exporters": ["postgres"]}})


@pytest.mark.parametrize(
    ("field", "value"),
    [("kafka_consumer_lag", 0), ("kafka_offline_partitions", -1), ("kafka_consumer_lag", "many")],
)
def test_kafka_thresholds_out_of_range_are_refused(field: str, value: object) -> None:
    with pytest.raises(SpecError) as error:
        inventory(mon={"monitoring": {"thresholds": {field: value}}})
    assert f"@docker/mon1: monitoring.thresholds.{field}: got " in str(error.value)


def test_alert_for_names_only_known_alerts() -> None:
    with pytest.raises(SpecError, match=r"monitoring\.alert_for"):
        inventory(mon={"monitoring": {"alert_for": {"NoSuchAlert": "1min"}}})


def test_alert_names_of_the_spec_are_the_rules() -> None:
    names = {a.name for g in rules.groups(Thresholds(), []) for a in g.alerts}
    assert set(get_args(AlertName)) == names


def _rules(specs: dict[str, HostSpec]) -> dict[str, dict[str, Any]]:
    monitor = specs["@docker/mon1"].monitoring
    text = render(
        "monitoring/alerts.yml.j2",
        groups=rules.groups(monitor.thresholds, specs.values(), monitor.alert_for),
    )
    return {r["alert"]: r for g in yaml.safe_load(text)["groups"] for r in g["rules"]}


def test_kafka_rules_take_thresholds_and_for_windows_from_host_data() -> None:
    specs = inventory(
        mon={
            "monitoring": {
                "thresholds": {"kafka_consumer_lag": 500, "wal_archive_failure_window": "1min"},
                "alert_for": {"KafkaBrokerDown": "30s", "WalArchivingFailing": "20s"},
            }
        }
    )
    alerts = _rules(specs)
    assert alerts["KafkaConsumerGroupLag"]["expr"].endswith("> 500")
    assert alerts["KafkaBrokerDown"]["for"] == "30s"
    assert alerts["WalArchivingFailing"]["for"] == "20s"
    assert "[1m]" in alerts["WalArchivingFailing"]["expr"]
    assert alerts["KafkaUnderReplicatedPartitions"]["for"] == "5m"  # the default


def test_lag_unknown_allows_five_collection_intervals() -> None:
    specs = inventory(kafka={"monitoring": {"kafka_lag_interval": "2min"}})
    assert "> 600" in _rules(specs)["KafkaLagUnknown"]["expr"]


def test_jmx_rules_name_the_metrics_the_alerts_read() -> None:
    text = render("kafka/jmx-exporter.yml.j2")
    loaded = yaml.safe_load(text)
    names = " ".join(rule["name"] for rule in loaded["rules"]).lower()
    for metric in (
        "replicamanager_$1",
        "kafkacontroller_$1",
        "brokertopicmetrics_$1_total",
        "requestmetrics_requests_total",
        "requesthandleravgidlepercent",
    ):
        assert metric in names
    assert "UnderReplicatedPartitions" in text and "OfflinePartitionsCount" in text
    assert "ActiveControllerCount" in text and "IsrShrinks" in text


def test_lag_is_watermark_minus_committed_over_committed_partitions() -> None:
    committed = {("t", 0): 10, ("t", 1): -1001, ("t", 2): 50, ("u", 0): 5}
    high = {("t", 0): 25, ("t", 1): 99, ("t", 2): 40, ("u", 0): 5}
    assert kafka_lag.lag_by_topic(committed, high) == {"t": 15, "u": 0}


def test_lag_textfile_is_the_exposition_format() -> None:
    text = kafka_lag.textfile({'g"1': {"t": 3}}, True, 1700000000.4)
    assert 'timestack_kafka_consumergroup_lag{group="g\\"1",topic="t"} 3' in text
    assert "timestack_kafka_lag_success 1\n" in text
    assert text.endswith("timestack_kafka_lag_collected_timestamp_seconds 1700000000\n")


def test_a_failed_collection_keeps_the_last_timestamp(tmp_path: Path) -> None:
    out = tmp_path / "kafka_lag.prom"
    kafka_lag.write_atomically(str(out), kafka_lag.textfile({}, True, 1700000000))
    previous = kafka_lag.previous_timestamp(str(out))
    kafka_lag.write_atomically(str(out), kafka_lag.textfile({}, False, 1700000900), previous)
    text = out.read_text()
    assert "timestack_kafka_lag_success 0" in text
    assert text.count("timestack_kafka_lag_collected_timestamp_seconds 1700000000") == 1
    assert list(tmp_path.iterdir()) == [out]  # no partial file left


def test_agent_follows_the_monitoring_group_unless_host_data_decides() -> None:
    default = KafkaSpec().jmx_exporter
    assert default.enabled is None
    broker = inventory()["@docker/kafka1"]
    assert runs_kafka_agent(broker, monitored=True)
    assert not runs_kafka_agent(broker, monitored=False)
    pinned = inventory(kafka={"kafka": {"jmx_exporter": {"enabled": True}}})["@docker/kafka1"]
    assert runs_kafka_agent(pinned, monitored=False)
    off = inventory(kafka={"kafka": {"jmx_exporter": {"enabled": False}}})
    assert "kafka" not in {job["job_name"] for job in config.scrape_configs(off.values())}


def test_a_broker_that_is_the_monitoring_host_moves_alertmanager_off_9093() -> None:
    both = frozenset({"kafka", "monitoring"})
    with pytest.raises(SpecError) as error:
        validate_inventory([HostInput("@docker/box1", both, {})])
    assert (
        "@docker/box1: monitoring.alertmanager.port: got 9093; expected a port no other service "
        "of this host uses (kafka.controller_port is 9093 here)"
    ) in str(error.value)
    moved = {"monitoring": {"alertmanager": {"port": 9095}}}
    box = validate_inventory([HostInput("@docker/box1", both, moved)])["@docker/box1"]
    assert config.alertmanager_listen(box) == "127.0.0.1:9095"
    alerting = config.prometheus_config(box, [box])["alerting"]
    assert alerting["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9095"]
