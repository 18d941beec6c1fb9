"""Checks for the ingest writers (group ingest), read-only: the service runs, its files keep
the password from everyone but the writer, it is a member of its consumer group, serves its
metrics on the address Prometheus dials only, and its group's lag is under the alert's."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

import pytest

from roles import kafka_clients
from roles.ingest import config
from roles.kafka import config as kafka_config
from roles.metrics import address
from roles.monitoring.config import TEXTFILE_DIR
from roles.monitoring.facts import TcpListeners
from roles.monitoring.operations import WILDCARDS

pytestmark = pytest.mark.group("ingest")
JOIN_SECONDS = 30

# The members of the writers' group, as the group coordinator lists them (librdkafka's
# list_groups), asked as the broker itself: its certificate on the internal listener, with
# the on-host administration's client settings (no application password).
MEMBERS = """
import json, sys
from confluent_kafka.admin import AdminClient
bootstrap, group, client = sys.argv[1:4]
settings = dict(json.load(open(client)), **{"bootstrap.servers": bootstrap})
found = AdminClient(settings).list_groups(group, timeout=15)
print(json.dumps([m.client_id for g in found if g.id == group for m in g.members]))
"""


@pytest.fixture(scope="module")
def writer_config(host: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(host.file(config.CONFIG).content_string)
    return document


def test_writer_service_runs_and_is_enabled(host: Any) -> None:
    service = host.service(config.UNIT)
    assert service.is_running, f"{config.UNIT} is not running: journalctl -u {config.UNIT}"
    assert service.is_enabled, f"{config.UNIT} does not start at boot"


@pytest.mark.parametrize("path", [config.CONFIG, config.PASSWORD])
def test_writer_files_are_readable_by_root_and_the_writer_only(host: Any, path: str) -> None:
    file = host.file(path)
    assert file.exists, f"{path} is missing"
    assert (file.user, file.group, file.mode) == ("root", config.USER, 0o640), (
        f"{path}: {file.user}:{file.group} {file.mode:o}, expected root:{config.USER} 640"
    )


def test_writer_is_a_member_of_its_consumer_group(host: Any, spec: Any, writer_config: Any) -> None:
    if "kafka" not in spec.groups or not kafka_clients.secured(spec.kafka):
        pytest.skip("not a secured broker: group members are listed with a broker's certificate")
    kafka = writer_config["kafka"]
    script = shlex.quote(MEMBERS)
    bootstrap = shlex.quote(kafka_config.bootstrap(spec))
    command = f"python3 -c {script} {bootstrap} "
    me = f"timestack-ingest-{writer_config['host']}"
    # A writer the deploy just started joins within seconds (the group coordinator waits
    # for more members before the first assignment): give it JOIN_SECONDS.
    deadline = time.monotonic() + JOIN_SECONDS
    command += f"{shlex.quote(kafka['group.id'])} {shlex.quote(kafka_clients.ADMIN_CLIENT)}"
    members = json.loads(host.check_output(command))
    while me not in members and time.monotonic() < deadline:
        time.sleep(2)
        members = json.loads(host.check_output(command))
    assert me in members, f"{me} is not in group {kafka['group.id']}: members {members}"


def test_writer_serves_its_metrics_on_the_monitoring_address_only(host: Any, spec: Any) -> None:
    where, port = address(spec), spec.ingest.metrics_port
    # --retry-connrefused: a writer the deploy has just (re)started opens it within seconds
    text = host.check_output(
        f"curl -fsS --max-time 10 --retry 10 --retry-connrefused --retry-delay 1 "
        f"http://{where}:{port}/metrics"
    )
    assert "timestack_ingest_rows_total{" in text, f"http://{where}:{port}/metrics: no rows"
    listeners = TcpListeners().process(host.check_output("ss -Htln").splitlines())
    bound = listeners.get(port, frozenset())
    assert not set(bound) & WILDCARDS, f"the writer's endpoint listens on every address: {bound}"


def test_group_lag_is_under_the_alert_threshold(host: Any, spec: Any, writer_config: Any) -> None:
    lag_file = host.file(f"{TEXTFILE_DIR}/kafka_lag.prom")
    if "kafka" not in spec.groups or not lag_file.exists:
        pytest.skip("no lag collected on this host (not a monitored broker)")
    group = writer_config["kafka"]["group.id"]
    lags = {
        line.split('topic="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in lag_file.content_string.splitlines()
        if line.startswith("timestack_kafka_consumergroup_lag{") and f'group="{group}"' in line
    }
    limit = spec.monitoring.thresholds.kafka_consumer_lag
    behind = {topic: lag for topic, lag in lags.items() if lag > limit}
    assert not behind, f"group {group} is behind by more than {limit} messages: {behind}"
