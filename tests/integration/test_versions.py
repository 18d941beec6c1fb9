"""The version report on the lab: every host answers, and a deployed lab runs what it has
installed and declared (no row marked)."""

from __future__ import annotations

import re

from tests.integration.lab_access import LAB_INVENTORY, db_sql
from tests.integration.pyinfra_run import DeployRun, dry_run

# ops/version_report.py's table rows: mark, component, declared, installed, running.
ROW = re.compile(r"^  ([ *])  (\S+)\s+(\S+)\s+(\S+)\s+(.+)$")


def report(output: str) -> dict[str, dict[str, tuple[bool, str, str, str]]]:
    """{host: {component: (marked, declared, installed, running)}} from the runbook's log."""
    tables: dict[str, dict[str, tuple[bool, str, str, str]]] = {}
    host = None
    for line in output.splitlines():
        if re.fullmatch(r"\S+:", line):
            host = line[:-1]
            tables[host] = {}
        elif host is not None and (row := ROW.match(line)) and row[2] != "component":
            tables[host][row[2]] = (row[1] == "*", row[3], row[4], row[5])
        elif host is not None and "component" not in line:
            host = None
    return tables


def test_version_report_lists_each_hosts_components(first_deploy: DeployRun) -> None:
    run = dry_run(LAB_INVENTORY, "ops/versions.py")
    assert run.returncode == 0, run.output[-4000:]
    tables = report(run.output)
    for host, rows in tables.items():
        print(host, rows)
    db1 = tables["ts-db1"]
    assert set(db1) >= {"PostgreSQL", "TimescaleDB", "pgBouncer", "pgBackRest"}
    assert db1["PostgreSQL"][3].split()[0] == db_sql("SHOW server_version").split()[0]
    assert any("Kafka" in rows for rows in tables.values())
    marked = {
        f"{host} {name}": row
        for host, rows in tables.items()
        for name, row in rows.items()
        if row[0]
    }
    assert not marked, f"not running what is installed or declared: {marked}"
