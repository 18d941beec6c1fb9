"""Monitoring on the lab, broken for real, read through the published port 127.0.0.1:19090
as an operator would:
- with ts-backup1's pgBackRest TLS server stopped, ts-db1's archive_command fails and
  WalArchivingFailing fires within its `for:` window; started again, the alert clears;
- with ts-kafka3's broker stopped, KafkaBrokerDown fires; started again, it clears and the
  partitions it followed are in sync again before the test ends.

The windows are the lab inventory's (inventory/lab.py: 10 s scrapes, a one-minute archive
failure window, 30 s `for:`), read from its host data like the role reads them: each fault
fires and clears in about a minute, the module takes some 3-4 minutes.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from roles.metrics import MONITORING_GROUP
from roles.monitoring.config import TOP_STATEMENTS, seconds
from roles.monitoring.rules import groups
from tests.integration.lab_access import LAB_INVENTORY, db_sql
from tests.integration.pyinfra_run import DeployRun
from tests.integration.test_drift import on
from tests.verify.targets import load_targets

PROMETHEUS = "http://127.0.0.1:19090"
BROKER = "ts-kafka3"  # not the broker that manages topics (the first of group kafka)


def _monitor() -> Any:
    return next(t.spec for t in load_targets(LAB_INVENTORY) if MONITORING_GROUP in t.groups)


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _for_seconds(alert: str) -> int:
    """The `for:` the monitoring host's rules give `alert` (a Prometheus duration)."""
    monitor = _monitor()
    found = {
        a.name: a.for_
        for g in groups(monitor.monitoring.thresholds, [], monitor.monitoring.alert_for)
        for a in g.alerts
    }
    duration = found[alert]
    return int(duration[:-1]) * _UNIT_SECONDS[duration[-1]]


def _get(path: str, **query: str) -> Any:
    url = f"{PROMETHEUS}/api/v1/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)["data"]


def _alert_states(name: str) -> set[str]:
    return {a["state"] for a in _get("alerts")["alerts"] if a["labels"]["alertname"] == name}


def _value(query: str) -> float | None:
    result = _get("query", query=query)["result"]
    return float(result[0]["value"][1]) if result else None


def _wait(
    condition: Callable[[], bool], limit: float, what: str, tick: Callable[[], None] = lambda: None
) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if condition():
            return time.monotonic() - start
        tick()
        time.sleep(5)
    raise AssertionError(f"{what} not within {limit:.0f} s")


def _switch_wal() -> None:
    db_sql("SELECT pg_switch_wal()")  # a segment to archive, so attempts keep coming


@pytest.fixture(scope="module")
def windows() -> dict[str, int]:
    """Seconds: the scrape interval, the archive failure window and the alerts' `for:`."""
    monitor = _monitor().monitoring
    return {
        "scrape": seconds(monitor.prometheus.scrape_interval),
        "archive_window": seconds(monitor.thresholds.wal_archive_failure_window),
        "WalArchivingFailing": _for_seconds("WalArchivingFailing"),
        "KafkaBrokerDown": _for_seconds("KafkaBrokerDown"),
    }


def test_lab_windows_are_short(windows: dict[str, int]) -> None:
    """The budget of this module (CI): each wait below is bounded by these."""
    assert windows["scrape"] <= 10
    assert windows["archive_window"] <= 60 and windows["WalArchivingFailing"] <= 30
    assert windows["KafkaBrokerDown"] <= 30


def test_every_target_up_after_the_deploy(first_deploy: DeployRun) -> None:
    targets = _get("targets")["activeTargets"]
    assert targets, "Prometheus scrapes nothing"
    assert {t["labels"]["job"] for t in targets} >= {"node", "postgres", "kafka"}
    down = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
    assert not down, f"targets not UP: {down}"


def _run_a_statement() -> None:
    db_sql("SELECT count(*) FROM pg_class", "telemetry")


def test_top_statements_reach_prometheus_bounded(
    first_deploy: DeployRun, windows: dict[str, int]
) -> None:
    query = "count by (instance) (timestack_statements_calls)"
    _wait(
        lambda: bool(_get("query", query=query)["result"]),
        6 * windows["scrape"] + 30,
        "timestack_statements_calls in Prometheus",
        tick=_run_a_statement,
    )
    series = {
        r["metric"]["instance"]: float(r["value"][1]) for r in _get("query", query=query)["result"]
    }
    print(f"pg_stat_statements in Prometheus, series per exporter: {series}")
    assert all(0 < count <= TOP_STATEMENTS for count in series.values()), series
    assert _get("query", query='timestack_statements_calls{datname="telemetry"}')["result"]


def test_archiving_failure_fires_then_clears(
    first_deploy: DeployRun, windows: dict[str, int]
) -> None:
    alert, slack = "WalArchivingFailing", 3 * windows["scrape"] + 60
    fires_within = windows[alert] + windows["archive_window"] + slack
    clears_within = windows["archive_window"] + slack
    # Attempts made before the stanza existed (first deploy) count as failures too: start quiet.
    _wait(lambda: not _alert_states(alert), clears_within, f"{alert} quiet before the break")
    db_sql("CREATE TABLE IF NOT EXISTS public.monitoring_probe (x int)")
    db_sql("INSERT INTO public.monitoring_probe SELECT generate_series(1, 1000)")
    on("ts-backup1", "systemctl stop pgbackrest")
    try:
        fired = _wait(
            lambda: "firing" in _alert_states(alert), fires_within, f"{alert} firing", _switch_wal
        )
    finally:
        on("ts-backup1", "systemctl start pgbackrest")
    cleared = _wait(
        lambda: not _alert_states(alert), clears_within, f"{alert} clearing", _switch_wal
    )
    db_sql("DROP TABLE public.monitoring_probe")
    print(f"{alert}: fired after {fired:.0f} s, cleared {cleared:.0f} s after the repair")


def test_broker_down_fires_then_clears(first_deploy: DeployRun, windows: dict[str, int]) -> None:
    alert, slack = "KafkaBrokerDown", 3 * windows["scrape"] + 30
    # A broker restarted by an earlier test is fenced for a moment: start quiet.
    _wait(lambda: not _alert_states(alert), 60 + slack, f"{alert} quiet before the stop")
    on(BROKER, "systemctl stop kafka")
    try:
        fired = _wait(lambda: "firing" in _alert_states(alert), windows[alert] + slack, alert)
    finally:
        on(BROKER, "systemctl start kafka")
    cleared = _wait(lambda: not _alert_states(alert), 120 + slack, f"{alert} clearing")
    # The broker's followers catch up before the next test relies on a healthy cluster.
    _wait(
        lambda: (
            _value('sum(kafka_server_replicamanager_underreplicatedpartitions{job="kafka"})') == 0
        ),
        180,
        "no under-replicated partition after the broker's restart",
    )
    print(f"{alert}: fired after {fired:.0f} s, cleared {cleared:.0f} s after the start")
