"""pgBouncer on the lab: logins through the published port, reload vs restart on change."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from lab.secrets import lab_secrets
from tests.integration.inventories import db_host_variant
from tests.integration.pyinfra_run import DeployRun, run_pyinfra

SETTINGS_OP = "pgBouncer | pgBouncer settings in effect (reload or restart)"
DSN = "host=127.0.0.1 port=16432 dbname=telemetry user=telemetry_app connect_timeout=5"


def main_pid() -> str:
    return subprocess.run(
        ["docker", "exec", "ts-db1", "systemctl", "show", "-p", "MainPID", "--value", "pgbouncer"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def show_config(key: str, port: int = 6432) -> str:
    output = subprocess.run(
        [
            "docker",
            "exec",
            "ts-db1",
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-h",
            "/var/run/postgresql",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "pgbouncer",
            "-XAtc",
            "SHOW CONFIG",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("|")[:2] for line in output.splitlines())[key]


def test_app_role_logs_in_through_pgbouncer(first_deploy: DeployRun) -> None:
    password = lab_secrets()["TIMESTACK_PG_APP_PASSWORD"]
    with psycopg.connect(DSN, password=password) as connection:
        # transaction pooling: a server backend serves this transaction, then goes back
        assert connection.execute("SELECT current_user").fetchone() == ("telemetry_app",)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(DSN, password=password + "x")


def test_pool_size_change_reloads_without_restart(restore_lab: None) -> None:
    pid = main_pid()
    with db_host_variant("pool_40", {"pgbouncer": {"default_pool_size": 40}}) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed.get(SETTINGS_OP) == 1
    assert "pgBouncer | pgbouncer.ini" in run.changed
    assert main_pid() == pid, "a pool size change restarted pgBouncer"
    assert show_config("default_pool_size") == "40"


def test_listen_port_change_restarts(restore_lab: None) -> None:
    pid = main_pid()
    with db_host_variant("port_6433", {"pgbouncer": {"listen_port": 6433}}) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed.get(SETTINGS_OP) == 1
    assert main_pid() != pid, "pgBouncer must restart to listen on a new port"
    assert show_config("listen_port", port=6433) == "6433"
