"""Kafka's alert rules, from the brokers' JMX metrics (templates/kafka/jmx-exporter.yml.j2
names them) and the consumer group lag the lag timer collects (roles/monitoring/kafka_lag.py).

Source: seed 001 = the users' monitoring list (Kafka lag and throughput, topic sizes); the
rest is what losing a broker or a partition costs.
"""

from __future__ import annotations

from collections.abc import Sequence

from roles.metrics import runs_kafka_agent
from roles.monitoring.config import seconds
from roles.monitoring.rules_model import Alert, Group
from roles.spec import HostSpec
from roles.spec.monitoring import Thresholds

# How many collection intervals may pass without a lag figure before it counts as unknown.
LAG_INTERVALS_MISSED = 5
CONTROLLER = "kafka_controller_kafkacontroller"  # the KRaft controller's metrics


def _broker_down(brokers: Sequence[HostSpec]) -> str:
    """A broker whose agent does not answer, every broker's target gone, or a broker the
    controller has fenced (its JVM answers, its broker does not serve)."""
    return (
        'up{job="kafka"} == 0'
        ' or absent(up{job="kafka"})'
        f" or max without (instance, host) ({CONTROLLER}_fencedbrokercount) > 0"
        if brokers
        else "vector(0) > 1"
    )


def kafka_group(t: Thresholds, specs: Sequence[HostSpec]) -> Group:
    brokers = [s for s in specs if runs_kafka_agent(s)]
    stale = LAG_INTERVALS_MISSED * max(
        (seconds(b.monitoring.kafka_lag_interval) for b in brokers), default=60
    )
    return Group(
        "timestack-kafka",
        (
            Alert(
                "KafkaBrokerDown",
                _broker_down(brokers),
                "1m",
                "critical",
                "{{ if $labels.host }}Kafka broker {{ $labels.host }}{{ else }}a Kafka broker"
                "{{ end }} is down, not scraped or fenced",
                "every broker is a KRaft voter: one more down and a 3-voter quorum stops",
                "agent not answering, no broker target at all, or a fenced broker, for 1 minute",
            ),
            Alert(
                "KafkaUnderReplicatedPartitions",
                "sum by (host) (kafka_server_replicamanager_underreplicatedpartitions)"
                f" > {t.kafka_under_replicated_partitions}",
                "5m",
                "warning",
                "{{ $value }} partitions led by {{ $labels.host }} are under-replicated",
                "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions; the rolling "
                "restart waits for 0 between brokers",
                f"more than {t.kafka_under_replicated_partitions} for 5 minutes "
                "(monitoring.thresholds.kafka_under_replicated_partitions)",
            ),
            Alert(
                "KafkaOfflinePartitions",
                f"max without (instance, host) ({CONTROLLER}_offlinepartitionscount)"
                f" > {t.kafka_offline_partitions}",
                "1m",
                "critical",
                "{{ $value }} Kafka partitions have no leader: their producers and consumers fail",
                "kafka.controller:type=KafkaController,name=OfflinePartitionsCount",
                f"more than {t.kafka_offline_partitions} for 1 minute "
                "(monitoring.thresholds.kafka_offline_partitions)",
            ),
            Alert(
                "KafkaNoActiveController",
                f"sum without (instance, host) ({CONTROLLER}_activecontrollercount) != 1",
                "1m",
                "critical",
                "{{ $value }} active KRaft controllers (exactly 1 expected)",
                "kafka.controller:type=KafkaController,name=ActiveControllerCount",
                "not exactly one active controller for 1 minute",
            ),
            Alert(
                "KafkaConsumerGroupLag",
                "max by (group, topic) (timestack_kafka_consumergroup_lag)"
                f" > {t.kafka_consumer_lag}",
                "10m",
                "warning",
                "consumer group {{ $labels.group }} trails {{ $labels.topic }} by "
                "{{ $value }} messages",
                "seed 001: Kafka lag; committed offsets against high watermarks, collected on "
                "every broker (monitoring.kafka_lag_interval), the largest figure counts",
                f"more than {t.kafka_consumer_lag} messages for 10 minutes "
                "(monitoring.thresholds.kafka_consumer_lag)",
            ),
            Alert(
                "KafkaLagUnknown",
                (
                    f"time() - max(timestack_kafka_lag_collected_timestamp_seconds) > {stale}"
                    " or absent(timestack_kafka_lag_collected_timestamp_seconds)"
                )
                if brokers
                else "vector(0) > 1",
                "10m",
                "warning",
                "no broker has collected consumer group lag for a while: KafkaConsumerGroupLag "
                "cannot fire",
                "the lag timer (timestack-kafka-lag.timer) on every broker",
                f"no collection for {LAG_INTERVALS_MISSED} intervals ({stale} s), for 10 minutes",
            ),
        ),
    )
