"""The PostgreSQL role on the lab: cgroup-aware tuning, logins, reload vs restart, drift."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest

from lab.secrets import SECRETS_FILE
from tests.integration.inventories import db_host_variant
from tests.integration.lab_access import db_sql, lab_tls, run_verify
from tests.integration.pyinfra_run import DeployRun, run_pyinfra

SETTINGS_OP = "PostgreSQL + TimescaleDB | Settings in effect (reload or restart as needed)"


def server_times() -> tuple[str, str]:
    """(postmaster start time, last configuration load time)."""
    start, load = db_sql("SELECT pg_postmaster_start_time(), pg_conf_load_time()").split("|")
    return start, load


def lab_password(variable: str) -> str:
    return str(json.loads(SECRETS_FILE.read_text())[variable])


def test_tuning_follows_the_container_memory_limit(first_deploy: DeployRun) -> None:
    # ts-db1 runs with a 4 GiB cgroup limit on a larger VM; pgBouncer shares the host:
    # (4096 MB - 64 MB for pgBouncer) / 4. Tuning by the VM's RAM would give several GB.
    assert db_sql("SHOW shared_buffers") == "1008MB"
    assert db_sql("SHOW effective_cache_size") == "3024MB"
    assert db_sql("SHOW random_page_cost") == "1.1"  # tuning.disk: ssd from the lab data


def test_timescaledb_and_postgis_in_the_telemetry_database(first_deploy: DeployRun) -> None:
    extensions = db_sql(
        "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension", "telemetry"
    )
    assert {"timescaledb", "postgis"} <= set(extensions.split(","))
    assert db_sql("SHOW timescaledb.license", "telemetry") == "apache"


def test_app_role_logs_in_over_tcp_and_a_wrong_password_fails(first_deploy: DeployRun) -> None:
    password = lab_password("TIMESTACK_PG_APP_PASSWORD")
    dsn = f"{lab_tls(('ts-db1', 15432))} dbname=telemetry user=telemetry_app connect_timeout=5"
    with psycopg.connect(dsn, password=password) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("telemetry_app",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn, password=password + "x")


def test_reloadable_input_change_reloads_without_restart(restore_lab: None) -> None:
    started, loaded = server_times()
    with db_host_variant("disk_hdd", {"postgres": {"tuning": {"disk": "hdd"}}}) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed.get(SETTINGS_OP) == 1
    assert "Tuned settings" in " ".join(run.changed)
    now_started, now_loaded = server_times()
    assert now_started == started, "a reload-only change restarted PostgreSQL"
    assert now_loaded != loaded, "the changed settings were not reloaded"
    assert db_sql("SHOW random_page_cost") == "4"


def test_postmaster_input_change_restarts(restore_lab: None) -> None:
    started, _ = server_times()
    with db_host_variant("one_cpu", {"postgres": {"tuning": {"cpus": 1}}}) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed.get(SETTINGS_OP) == 1
    assert server_times()[0] != started, "max_worker_processes changed without a restart"
    assert db_sql("SHOW max_worker_processes") == "20"  # 3 + 16 TimescaleDB workers + 1 CPU


def test_hand_changed_setting_fails_verify_by_name_then_deploy_repairs_it(
    restore_lab: None,
) -> None:
    wanted = db_sql("SHOW work_mem")
    db_sql("ALTER SYSTEM SET work_mem = '1MB'")
    db_sql("SELECT pg_reload_conf()")
    verify = run_verify("tests/verify/test_postgres.py", "-k", "tuned_settings")
    assert verify.returncode == 1
    assert f"'work_mem': 'expected {wanted}, actual 1024kB'" in verify.stdout
    repaired = run_pyinfra("inventory/lab.py")
    assert repaired.changed == {SETTINGS_OP: 1}
    assert db_sql("SHOW work_mem") == wanted


def test_changed_password_never_appears_in_verbose_output(restore_lab: None) -> None:
    new_password = "Rotated-" + lab_password("TIMESTACK_PG_RO_PASSWORD")[:12]
    run = run_pyinfra(
        "inventory/lab.py", "deploy.py", "-vv", env={"TIMESTACK_PG_RO_PASSWORD": new_password}
    )
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed.get("PostgreSQL + TimescaleDB | Role telemetry_ro") == 1
    assert new_password not in run.output
    assert "SCRAM-SHA-256$" not in run.output
    leftovers = subprocess.run(
        ["docker", "exec", "ts-db1", "find", "/var/lib/timestack", "-name", "*.sql"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert leftovers == "", f"SQL carrying secrets left on the host: {leftovers}"
    dsn = f"{lab_tls(('ts-db1', 15432))} dbname=telemetry user=telemetry_ro connect_timeout=5"
    with psycopg.connect(dsn, password=new_password) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
