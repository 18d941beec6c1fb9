"""Checks for the monitoring host (group monitoring): Prometheus and Alertmanager running,
every expected target UP, every rule file loaded, Alertmanager reached. Read-only: only
Prometheus's query API, read on the monitoring host itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roles.monitoring import config

pytestmark = pytest.mark.group("monitoring")


def _api(host: Any, spec: Any, path: str) -> Any:
    base = f"http://{spec.monitoring.prometheus.listen_address}:{config.PROMETHEUS.port}"
    reply = json.loads(host.check_output(f"curl -fsS --max-time 10 {base}/api/v1/{path}"))
    assert reply["status"] == "success", reply
    return reply["data"]


@pytest.mark.parametrize("service", ["prometheus", "prometheus-alertmanager"])
def test_service_active_and_enabled(host: Any, service: str) -> None:
    unit = host.service(service)
    assert unit.is_running, f"{service} is not running"
    assert unit.is_enabled, f"{service} is not enabled"


def test_every_expected_target_up(host: Any, spec: Any, inventory_specs: dict[str, Any]) -> None:
    expected = {
        (job["job_name"], target)
        for job in config.scrape_configs(inventory_specs.values())
        for static in job["static_configs"]
        for target in static["targets"]
    }
    active = {
        (t["labels"]["job"], t["labels"]["instance"]): (t["health"], t["lastError"])
        for t in _api(host, spec, "targets?state=active")["activeTargets"]
    }
    missing = sorted(expected - set(active))
    assert not missing, f"targets Prometheus does not scrape: {missing}"
    down = {key: active[key] for key in sorted(expected) if active[key][0] != "up"}
    assert not down, f"targets not UP (health, last error): {down}"


def test_every_rule_file_loaded_without_error(host: Any, spec: Any) -> None:
    groups = _api(host, spec, "rules")["groups"]
    assert {g["file"] for g in groups} >= {config.RULES_FILE}, "the Timestack rules are not loaded"
    broken = {
        rule["name"]: rule.get("lastError")
        for group in groups
        for rule in group["rules"]
        if rule["health"] not in ("ok", "unknown")
    }
    assert not broken, f"rules failing to evaluate: {broken}"
    status = _api(host, spec, "status/runtimeinfo")
    assert status["reloadConfigSuccess"], "the last configuration reload failed"


def test_alertmanager_reachable_from_prometheus(host: Any, spec: Any) -> None:
    active = _api(host, spec, "alertmanagers")["activeAlertmanagers"]
    listen = config.alertmanager_listen(spec)
    assert [a["url"] for a in active] == [f"http://{listen}/api/v2/alerts"]
    ready = host.run(f"curl -fsS --max-time 5 http://{listen}/-/ready")
    assert ready.rc == 0, f"Alertmanager does not answer on {listen}"
