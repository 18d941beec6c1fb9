"""The rendered alert rules under Prometheus's own promtool: `promtool check rules` parses them,
`promtool test rules` (tests/unit/promtool/alerts_test.yml) feeds series that fire each alert
on one host and keep it quiet on another. promtool comes with Debian's prometheus package
(.ci/run installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from roles.monitoring import rules
from roles.spec import HostInput, validate_inventory
from roles.spec.monitoring import Thresholds
from roles.templating import render

PROMTOOL = shutil.which("promtool")
TESTS = Path(__file__).parent / "promtool" / "alerts_test.yml"
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH: apt-get install prometheus (.ci/run does)"
)


def _db(name: str) -> HostInput:
    return HostInput(
        f"@docker/{name}",
        frozenset({"timescaledb", "pgbouncer"}),
        {
            "postgres": {
                "roles": [{"name": "owner", "login": False}],
                "databases": [{"name": "telemetry", "owner": "owner"}],
            }
        },
    )


@pytest.fixture(scope="module")
def rule_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    specs = validate_inventory(
        [
            _db("db1"),
            _db("db2"),
            *(
                HostInput(f"@docker/kafka{n}", frozenset({"kafka", "ingest"}), {})
                for n in (1, 2, 3)
            ),
            HostInput("@docker/backup1", frozenset({"pgbackrest_repo"}), {}),
        ]
    )
    monitor = specs["@docker/backup1"]
    directory = tmp_path_factory.mktemp("rules")
    text = render(
        "monitoring/alerts.yml.j2",
        groups=rules.groups(monitor.monitoring.thresholds, specs.values()),
    )
    (directory / "timestack.yml").write_text(text)
    shutil.copy(TESTS, directory / TESTS.name)
    return directory


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_promtool_check_rules(rule_dir: Path) -> None:
    result = _promtool("check", "rules", "timestack.yml", cwd=rule_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_fire_and_stay_quiet(rule_dir: Path) -> None:
    result = _promtool("test", "rules", TESTS.name, cwd=rule_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_promtool_case() -> None:
    names = {alert.name for group in rules.groups(Thresholds(), []) for alert in group.alerts}
    tested = set(re.findall(r"alertname: (\w+)", TESTS.read_text()))
    assert names == tested, f"alerts without a promtool case: {sorted(names - tested)}"
