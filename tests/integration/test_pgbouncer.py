"""pgBouncer on the lab: logins through the published port, the declared clients under
load, reload vs restart on change."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import psycopg
import pytest

from bench import pgbouncer_load
from lab.secrets import lab_secrets
from roles.paths import PUBLISHED_CA
from roles.pgbouncer.facts import admin_console
from roles.spec.pgbouncer import INTERNAL_CLIENTS
from tests.integration.inventories import db_host_variant
from tests.integration.lab_access import LAB_INVENTORY, lab_tls
from tests.integration.pyinfra_run import ROOT, DeployRun, run_pyinfra
from tests.verify.targets import load_targets

SETTINGS_OP = "pgBouncer | pgBouncer settings in effect (reload or restart)"
DSN = f"{lab_tls(('ts-db1', 16432))} dbname=telemetry user=telemetry_app connect_timeout=5"


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


def console_clients(port: int) -> int:
    """Sessions on ts-db1's admin console (this one included)."""
    output = subprocess.run(
        ["docker", "exec", "ts-db1", "sh", "-c", admin_console(port, "SHOW CLIENTS")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for line in output.splitlines() if line.split("|")[2:3] == ["pgbouncer"])


@contextmanager
def console_sessions(port: int, count: int) -> Iterator[None]:
    """`count` sessions held open on ts-db1's admin console, as Timestack's own clients
    (deploy, runbooks, verify, an operator) hold them: psql waiting on its input."""
    before = console_clients(port)
    psql = [
        "docker", "exec", "-i", "ts-db1", "runuser", "-u", "postgres", "--", "psql",
        "-h", "/var/run/postgresql", "-p", str(port), "-U", "postgres", "-d", "pgbouncer", "-Xq",
    ]  # fmt: skip
    with ExitStack() as stack:
        for _ in range(count):
            session = subprocess.Popen(
                psql, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
            )
            stack.callback(session.communicate, "", 10)  # end of input: psql leaves
        deadline = time.monotonic() + 30
        while console_clients(port) < before + count and time.monotonic() < deadline:
            time.sleep(0.5)
        assert console_clients(port) >= before + count, "the console sessions did not connect"
        yield


def test_declared_clients_log_in_while_timestack_clients_are_connected(
    first_deploy: DeployRun,
) -> None:
    """pgbench (a C client: one Python process caps far below pgBouncer) opens
    pgbouncer.clients connections through ts-db1's pgBouncer while Timestack's own clients
    hold theirs: the exporter scraping, the others as open console sessions."""
    spec = next(t for t in load_targets(ROOT / LAB_INVENTORY) if t.short_name == "ts-db1").spec
    bouncer = spec.pgbouncer
    assert show_config("max_client_conn") == str(bouncer.client_limit)
    exporter = subprocess.run(
        ["docker", "exec", "ts-db1", "systemctl", "is-active", "prometheus-pgbouncer-exporter"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert exporter.stdout.strip() == "active", "the pgBouncer exporter must be scraping"
    held = sum(count for name, count in INTERNAL_CLIENTS if name != "exporter")
    # Every client over TLS, verifying the certificate for the host's name with the CA
    # published on the host, while dialling loopback (PGHOSTADDR).
    args = pgbouncer_load.pgbench_args(
        "ts-db1", bouncer.listen_port, "telemetry", "telemetry_app", bouncer.clients, 15
    )
    tls = pgbouncer_load.verified_tls("127.0.0.1", PUBLISHED_CA)
    password = lab_secrets()["TIMESTACK_PG_APP_PASSWORD"]
    with console_sessions(bouncer.listen_port, held):
        run = subprocess.run(
            ["docker", "exec", "-i", "-e", f"PGPASSWORD={password}",
             *(f"-e{key}={value}" for key, value in tls.items()), "ts-db1",
             f"/usr/lib/postgresql/{spec.postgres.version}/bin/pgbench", *args],
            input=pgbouncer_load.SCRIPT,
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )  # fmt: skip
    result = pgbouncer_load.parse(run.returncode, run.stdout + run.stderr)
    print(pgbouncer_load.report(f"ts-db1:{bouncer.listen_port}", bouncer.clients, result))
    assert result.ok, run.stdout[-2000:] + run.stderr[-2000:]
    assert result.clients == bouncer.clients


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
