"""Checks for the monitored brokers (group kafka, when the inventory has a monitoring group),
read-only: the JMX exporter's agent serves the broker metrics the alert rules read, on the
address Prometheus dials and nowhere else; the lag collector's timer runs and succeeds."""

from __future__ import annotations

from typing import Any

import pytest

from roles.metrics import MONITORING_GROUP, address, runs_kafka_agent
from roles.monitoring import config
from roles.monitoring.facts import TcpListeners
from roles.monitoring.operations import WILDCARDS
from tests.verify.targets import load_targets

pytestmark = pytest.mark.group("kafka")

# What the alert rules (roles/monitoring/kafka_rules.py) read from every broker.
RULE_METRICS = (
    "kafka_server_replicamanager_underreplicatedpartitions",
    "kafka_controller_kafkacontroller_offlinepartitionscount",
    "kafka_controller_kafkacontroller_activecontrollercount",
    "kafka_controller_kafkacontroller_fencedbrokercount",
)


@pytest.fixture(scope="module")
def monitored(request: pytest.FixtureRequest) -> bool:
    targets = load_targets(request.config.getoption("--inventory"))
    return any(MONITORING_GROUP in target.groups for target in targets)


@pytest.fixture
def agent(monitored: bool, spec: Any) -> tuple[str, int]:
    if not monitored or not runs_kafka_agent(spec):
        pytest.skip("no monitoring group in the inventory, or the agent is not kept here")
    return address(spec), spec.kafka.jmx_exporter.port


def test_jmx_agent_serves_the_metrics_the_rules_read(host: Any, agent: tuple[str, int]) -> None:
    address, port = agent
    text = host.check_output(f"curl -fsS --max-time 10 http://{address}:{port}/metrics")
    missing = [
        name for name in RULE_METRICS if f"\n{name} " not in text and f"\n{name}{{" not in text
    ]
    assert not missing, f"the agent on {address}:{port} serves no {missing}"


def test_jmx_agent_not_on_every_address(host: Any, agent: tuple[str, int]) -> None:
    _address, port = agent
    listeners = TcpListeners().process(host.check_output("ss -Htln").splitlines())
    bound = listeners.get(port, frozenset())
    assert bound, f"nothing listens on port {port}"
    assert not bound & WILDCARDS, f"the JMX agent listens on every address ({sorted(bound)})"


def test_lag_timer_runs_and_its_last_collection_succeeded(
    host: Any, agent: tuple[str, int]
) -> None:
    timer = host.service(f"{config.KAFKA_LAG_UNIT}.timer")
    assert timer.is_running and timer.is_enabled, f"{config.KAFKA_LAG_UNIT}.timer is not active"
    out = host.file(f"{config.TEXTFILE_DIR}/kafka_lag.prom")
    assert out.exists, f"{out.path}: no lag collected yet"
    assert "timestack_kafka_lag_success 1" in out.content_string, (
        f"the last lag collection failed: journalctl -u {config.KAFKA_LAG_UNIT}.service"
    )
