"""Reading lab hosts from tests: SQL on ts-db1 (or its standby ts-db2) as postgres, and the
verify suite."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.pyinfra_run import ROOT
from tests.verify.targets import conninfo_value, local_ca

LAB_INVENTORY = "inventory/lab.py"
# Where this machine reaches lab services: ports published on 127.0.0.1.
PUBLISHED_ADDRESS = "127.0.0.1"


def lab_tls(*endpoints: tuple[str, int]) -> str:
    """libpq parameters reaching lab services through their published ports on 127.0.0.1
    ((lab host, published port) each; several make a multi-host conninfo), over TLS verified
    against Timestack's CA on this machine (verify-full). `host` is the lab host's own name,
    which its certificate carries; `hostaddr` the published address, which no certificate
    names: the certificate is checked as a client dialling the host by name checks it."""
    return (
        f"host={','.join(name for name, _ in endpoints)} "
        f"hostaddr={','.join(PUBLISHED_ADDRESS for _ in endpoints)} "
        f"port={','.join(str(port) for _, port in endpoints)} "
        f"sslmode=verify-full sslrootcert={conninfo_value(str(local_ca()))}"
    )


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
