"""Monitoring on the lab, broken for real: with ts-backup1's pgBackRest TLS server stopped,
ts-db1's archive_command fails and WalArchivingFailing fires within its `for:` window; with
the server started again the alert clears. Prometheus is read through the published port
127.0.0.1:19090, as an operator would."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.integration.lab_access import db_sql
from tests.integration.pyinfra_run import DeployRun
from tests.integration.test_drift import on

PROMETHEUS = "http://127.0.0.1:19090"
ALERT = "WalArchivingFailing"
# increase(...[5m]) > 0 held for 2m: pending after the first failed attempt is scraped, firing
# 2 minutes later; it clears once five minutes pass without a failure (+ scrape slack).
FIRES_WITHIN = 6 * 60
CLEARS_WITHIN = 9 * 60


def _get(path: str, **query: str) -> Any:
    url = f"{PROMETHEUS}/api/v1/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)["data"]


def _alert_states(name: str) -> set[str]:
    return {a["state"] for a in _get("alerts")["alerts"] if a["labels"]["alertname"] == name}


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        db_sql("SELECT pg_switch_wal()")  # a segment to archive, so attempts keep coming
        time.sleep(15)
    raise AssertionError(f"{what} not within {seconds:.0f} s")


def test_every_target_up_after_the_deploy(first_deploy: DeployRun) -> None:
    targets = _get("targets")["activeTargets"]
    assert targets, "Prometheus scrapes nothing"
    down = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
    assert not down, f"targets not UP: {down}"


def test_archiving_failure_fires_then_clears(first_deploy: DeployRun) -> None:
    # Attempts made before the stanza existed (first deploy) count as failures too: start quiet.
    _wait(lambda: not _alert_states(ALERT), CLEARS_WITHIN, f"{ALERT} quiet before the break")
    db_sql("CREATE TABLE IF NOT EXISTS public.monitoring_probe (x int)")
    db_sql("INSERT INTO public.monitoring_probe SELECT generate_series(1, 1000)")
    on("ts-backup1", "systemctl stop pgbackrest")
    try:
        _wait(lambda: "firing" in _alert_states(ALERT), FIRES_WITHIN, f"{ALERT} firing")
    finally:
        on("ts-backup1", "systemctl start pgbackrest")
    _wait(lambda: not _alert_states(ALERT), CLEARS_WITHIN, f"{ALERT} clearing after repair")
    db_sql("DROP TABLE public.monitoring_probe")
