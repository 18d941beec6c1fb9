"""Open N concurrent clients through pgBouncer with pgbench, run SELECT 1 on all of them at
once, and print clients, failures, TPS and latency.

    python -m bench.pgbouncer_load                       # the lab: 1000 clients, 15 s
    python -m bench.pgbouncer_load --host db1 --port 6432 --user telemetry_app \\
        --password-env TIMESTACK_PG_APP_PASSWORD --clients 1000 --seconds 30 \\
        --tls-name db1.example.net

Clients connect over TLS and verify pgBouncer's certificate against Timestack's CA
(sslmode=verify-full, sslrootcert = --ca-file, default the CA in TIMESTACK_PKI_DIR): the
certificate must name --tls-name (default --host; the lab's: ts-db1, dialled at 127.0.0.1).

pgbench is PostgreSQL's C client (Debian ships it with the server package, postgresql-NN): a
single Python process caps near 1.7k TPS and would measure itself, not pgBouncer. Every client
connects before the load begins; one refused login fails the run. The load goes only to the
host given and stops after --seconds. The password is
read from the environment variable --password-env names, as the roles read a role's
password_env.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass

from roles.pki import pki_dir

LAB_ADDRESS = "127.0.0.1"  # --host's default: the lab's published port
# Simple protocol: what most pooled applications send; each SELECT 1 is one transaction.
SCRIPT = "SELECT 1;\n"
_FIGURES = {
    "clients": r"^number of clients: (\d+)",
    "transactions": r"^number of transactions actually processed: (\d+)",
    "failed": r"^number of failed transactions: (\d+)",
    "latency_ms": r"^latency average = ([\d.]+) ms",
    "connect_ms": r"^initial connection time = ([\d.]+) ms",
    "tps": r"^tps = ([\d.]+)",
}

# A login refused at the start, or a client lost during the run.
_ABORTED = r"could not create connection for client \d+|client \d+ aborted"


@dataclass(frozen=True)
class Result:
    returncode: int
    clients: int  # pgbench's own count of the clients it ran
    transactions: int
    failed: int
    aborted: int  # clients that could not log in or lost their connection
    latency_ms: float
    connect_ms: float
    tps: float
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed and not self.aborted


def verified_tls(address: str, ca_file: str) -> dict[str, str]:
    """libpq's environment for TLS verified against `ca_file`, dialling `address` (PGHOSTADDR
    when it is an IP address) while checking the certificate for the name pgbench's --host
    gives."""
    environment = {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca_file}
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return environment
    return {**environment, "PGHOSTADDR": address}


def pgbench_args(
    host: str, port: int, dbname: str, user: str, clients: int, seconds: int, jobs: int = 2
) -> list[str]:
    """pgbench's arguments (the script comes on stdin); no password: PGPASSWORD carries it."""
    return [
        "--no-vacuum", "--file=-", "--protocol=simple",
        f"--client={clients}", f"--jobs={jobs}", f"--time={seconds}",
        f"--host={host}", f"--port={port}", f"--username={user}", dbname,
    ]  # fmt: skip


def parse(returncode: int, output: str) -> Result:
    """pgbench's report (PostgreSQL 15 and later) into figures; absent ones are 0."""
    found = {key: re.search(pattern, output, re.MULTILINE) for key, pattern in _FIGURES.items()}
    number = {key: float(match.group(1)) if match else 0.0 for key, match in found.items()}
    errors = tuple(line for line in output.splitlines() if "error:" in line or "FATAL" in line)
    return Result(
        returncode=returncode,
        clients=int(number["clients"]),
        transactions=int(number["transactions"]),
        failed=int(number["failed"]),
        aborted=len(re.findall(_ABORTED, output)),
        latency_ms=number["latency_ms"],
        connect_ms=number["connect_ms"],
        tps=number["tps"],
        errors=errors,
    )


def report(target: str, wanted: int, result: Result) -> str:
    lines = [
        f"target                 {target}",
        f"clients                {result.clients} ran of {wanted}; "
        f"{result.aborted} refused or aborted",
        f"transactions           {result.transactions} (failed {result.failed})",
        f"TPS                    {result.tps:.0f}",
        f"latency average        {result.latency_ms:.2f} ms",
        f"all clients connected  in {result.connect_ms / 1000:.1f} s",
    ]
    for message in sorted(set(result.errors))[:5]:
        lines.append(f"  x{result.errors.count(message)}: {message}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pgbouncer_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=LAB_ADDRESS)
    parser.add_argument("--port", type=int, default=16432, help="lab: pgBouncer's published port")
    parser.add_argument(
        "--tls-name",
        default=None,
        help="the name pgBouncer's certificate carries, when --host is another address "
        "(published port, NAT); default --host, the lab's ts-db1 when --host is left out",
    )
    parser.add_argument(
        "--ca-file",
        default=None,
        help="CA certificate to verify pgBouncer with (default: Timestack's CA in "
        "TIMESTACK_PKI_DIR, as roles/pki.py keeps it)",
    )
    parser.add_argument("--dbname", default="telemetry")
    parser.add_argument("--user", default="telemetry_app")
    parser.add_argument(
        "--password-env",
        default="TIMESTACK_PG_APP_PASSWORD",
        help="environment variable with the password (the lab's name by default)",
    )
    parser.add_argument("--clients", type=int, default=1000, help="pgbouncer.clients")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=2, help="pgbench threads")
    args = parser.parse_args(argv)
    password = os.environ.get(args.password_env)
    if not password:
        parser.error(f"set {args.password_env} to the password of {args.user}")
    pgbench = shutil.which("pgbench")
    if not pgbench:
        parser.error("pgbench is not on PATH (Debian: apt-get install postgresql-NN)")
    # One socket per client, plus pgbench's own files; pgbench inherits the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.clients + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.clients + 256, hard), hard))
    name = args.tls_name or ("ts-db1" if args.host == LAB_ADDRESS else args.host)
    run = subprocess.run(
        [pgbench, *pgbench_args(
            name, args.port, args.dbname, args.user, args.clients, args.seconds, args.jobs
        )],
        input=SCRIPT,
        capture_output=True,
        text=True,
        env={
            **os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "30",
            **verified_tls(args.host, args.ca_file or str(pki_dir() / "ca.crt")),
        },
        check=False,
    )  # fmt: skip
    result = parse(run.returncode, run.stdout + run.stderr)
    print(report(f"{args.host}:{args.port}/{args.dbname} as {args.user}", args.clients, result))
    return 0 if result.ok and result.clients == args.clients else 1


if __name__ == "__main__":
    sys.exit(main())
