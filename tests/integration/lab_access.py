"""Reading lab hosts from tests: SQL on ts-db1 (or its standby ts-db2) as postgres, and the
verify suite."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.pyinfra_run import ROOT

LAB_INVENTORY = "inventory/lab.py"


def db_sql(query: str, database: str = "postgres", container: str = "ts-db1") -> str:
    """Run one statement on `container` as the postgres OS user; its unaligned output."""
    return subprocess.run(
        [
            "docker",
            "exec",
            container,
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "--cluster",
            "17/main",
            "-d",
            database,
            "-XAtc",
            query,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def run_verify(*args: str) -> subprocess.CompletedProcess[str]:
    """`pytest tests/verify ...` against the lab, as a user would run it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *(args or ("tests/verify",)),
            "--inventory",
            LAB_INVENTORY,
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
