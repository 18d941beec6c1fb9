"""The PostgreSQL half of `python -m bench.tls_cost`: COPY over TCP on 127.0.0.1, without
and with TLS, into the bench's stock cluster.

The stock cluster of `python -m bench` (bench/clusters.py: port 5499, the same schema) is
created on the primary and given TLS with the host's certificate from Timestack's CA (the
files the tuned cluster reads) and a role of the benchmark's own, admitted by two rules
ahead of all others: `hostnossl` and `hostssl`, from 127.0.0.1 only, that role only. psql
runs on the database host and COPYs generated vehicle telemetry (bench/datagen.py) into the
bench's copy of vehicle_telemetry (bench/schema.py: the real table's columns and indexes),
once with sslmode=disable, once with sslmode=verify-full against the published CA; each
round checks in pg_stat_ssl that its connection is what it asked for. The cluster, its
role and every file are dropped at the end, however the run ends.

The role's password is made on the host into a 0600 passfile of the postgres user; psql
reads it from there to set it (over the Unix socket; the server stores its SCRAM verifier)
and to log in. It is never on a command line, in output, or on the machine running the
benchmark.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bench import schema
from bench.clusters import CLUSTER, PORT, DefaultsCluster, HostShell
from bench.datagen import VEHICLE_COLUMNS
from bench.ingest import TIMING
from roles.paths import PUBLISHED_CA
from roles.pgclient import psql
from roles.postgres.config import TLS as SERVER_TLS
from roles.sql import quote_ident, quote_literal
from tests.verify.targets import conninfo_value

WORK = "/var/lib/postgresql/timestack-bench-tls"  # the postgres user's, 0700
PASSFILE = f"{WORK}/pgpass"
ROWS_FILE = f"{WORK}/rows.copy"
ROLE = "timestack_bench_tls"
LOOPBACK = "127.0.0.1"
ROUND_SECONDS = 900
SSLMODE = {"plaintext": "disable", "tls": "verify-full"}
_COPIED = re.compile(r"^COPY (\d+)$", re.MULTILINE)


def hba_rules(database: str) -> str:
    """The rules put ahead of the stock cluster's own: the benchmark's role, from
    127.0.0.1, once without TLS and once with it; SCRAM either way."""
    return "".join(
        f"{kind} {database} {ROLE} {LOOPBACK}/32 scram-sha-256\n"
        for kind in ("hostnossl", "hostssl")
    )


def tls_settings() -> str:
    """ALTER SYSTEM statements turning TLS on with the host's key and certificate (the
    tuned cluster's files); all are re-read on reload."""
    values = {"ssl": "on", "ssl_cert_file": SERVER_TLS.cert, "ssl_key_file": SERVER_TLS.key}
    return "".join(f"ALTER SYSTEM SET {key} = {quote_literal(v)};\n" for key, v in values.items())


def passfile_command(database: str) -> str:
    """Shell run as postgres: a random password into a 0600 passfile line for the role
    (printf is the shell's own: the password is on no command line)."""
    entry = f"*:{PORT}:{database}:{ROLE}:"
    random = "$(head -c 24 /dev/urandom | base64 | tr -d '/+=\\n')"
    return f'umask 077 && printf "%s\\n" "{entry}{random}" > {PASSFILE}'


def role_script() -> str:
    """psql input creating the role with the passfile's password (psql reads the file)."""
    return (
        f"\\set password `cut -d: -f5 {PASSFILE}`\n"
        f"CREATE ROLE {quote_ident(ROLE)} LOGIN PASSWORD :'password';\n"
    )


def bench_table_sql() -> str:
    """The bench schema (bench/schema.py), its vehicle table owned by the benchmark's role."""
    statements = [
        *schema.ddl(),
        f"GRANT USAGE ON SCHEMA {schema.SCHEMA} TO {quote_ident(ROLE)}",
        f"ALTER TABLE {schema.TELEMETRY} OWNER TO {quote_ident(ROLE)}",
    ]
    return "".join(f"{statement};\n" for statement in statements)


def conninfo(mode: str, server_name: str, database: str) -> str:
    """libpq parameters of a round: 127.0.0.1 dialled, the host's certificate name checked
    (verify-full) when TLS."""
    parameters = {
        "host": server_name,
        "hostaddr": LOOPBACK,
        "port": str(PORT),
        "dbname": database,
        "user": ROLE,
        "passfile": PASSFILE,
        "sslmode": SSLMODE[mode],
        **({"sslrootcert": PUBLISHED_CA} if mode == "tls" else {}),
        "connect_timeout": "10",
    }
    return " ".join(f"{key}={conninfo_value(value)}" for key, value in parameters.items())


def round_script(columns: Sequence[str] = VEHICLE_COLUMNS) -> str:
    """psql input of a round: what the connection negotiated, then the timed COPY."""
    return (
        "SELECT ssl, coalesce(version, ''), coalesce(cipher, '') FROM pg_stat_ssl "
        "WHERE pid = pg_backend_pid();\n"
        "\\timing on\n"
        f"\\copy {schema.TELEMETRY} ({', '.join(columns)}) FROM {quote_literal(ROWS_FILE)}\n"
    )


@dataclass(frozen=True)
class Round:
    mode: str
    rows: int
    seconds: float
    tls: str  # "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" without TLS

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def parse_round(mode: str, rows: int, output: str) -> Round:
    """psql's output of round_script; the connection must be what the mode asked for and
    every row copied."""
    first = output.strip().splitlines()[0] if output.strip() else ""
    ssl, _, negotiated = first.partition("|")
    if ssl not in ("t", "f"):
        raise SystemExit(f"{mode}: no pg_stat_ssl row in psql's output: {output[-300:]}")
    if (ssl == "t") != (mode == "tls"):
        raise SystemExit(f"{mode}: the connection {'used' if ssl == 't' else 'had no'} TLS")
    copied, timing = _COPIED.search(output), TIMING.search(output)
    if not copied or int(copied[1]) != rows or not timing:
        raise SystemExit(f"{mode}: expected COPY {rows} and its time: {output[-300:]}")
    seconds = max(float(timing[1]) / 1000, 1e-3)
    return Round(mode, rows, seconds, negotiated.replace("|", " ").strip())


class ScratchPostgres:
    """The stock cluster as this benchmark sets it up, reached through the host's shell."""

    def __init__(self, cluster: DefaultsCluster, shell: HostShell, server_name: str) -> None:
        self.cluster, self.shell, self.server_name = cluster, shell, server_name

    def _psql(self, database: str = "postgres") -> str:
        return psql(self.cluster.version, CLUSTER, None, database)

    def set_up(self, payload: bytes) -> None:
        version, database, shell = self.cluster.version, self.cluster.database, self.shell
        shell.run(f"install -d -m 0700 -o postgres -g postgres {WORK}")
        shell.run(f"runuser -u postgres -- sh -c {shlex.quote(passfile_command(database))}")
        shell.run(self._psql(), tls_settings() + role_script())
        hba = f"/etc/postgresql/{version}/{CLUSTER}/pg_hba.conf"
        shell.run(f"{{ cat; cat {hba}; }} > {hba}.new && cat {hba}.new > {hba} && rm {hba}.new",
                  hba_rules(database))  # fmt: skip
        shell.run(f"pg_ctlcluster {version} {CLUSTER} reload")
        shell.run(self._psql(database), bench_table_sql())
        shell.upload(ROWS_FILE, payload, owner="postgres")

    def copy(self, mode: str, rows: int) -> Round:
        self.shell.run(psql(self.cluster.version, CLUSTER, f"TRUNCATE {schema.TELEMETRY}",
                            self.cluster.database))  # fmt: skip
        target = shlex.quote(conninfo(mode, self.server_name, self.cluster.database))
        output = self.shell.run(
            f"timeout {ROUND_SECONDS} runuser -u postgres -- "
            f"psql -X -At -v ON_ERROR_STOP=1 {target}",
            round_script(),
        )
        return parse_round(mode, rows, output)


@contextmanager
def scratch_postgres(
    cluster: DefaultsCluster, shell: HostShell, server_name: str, payload: bytes
) -> Iterator[ScratchPostgres]:
    """The stock cluster made (a leftover of a killed run dropped first) and set up; the
    cluster and the benchmark's files dropped at the end."""
    shell.run(f"rm -rf {WORK}")
    cluster.create(shell)
    try:
        scratch = ScratchPostgres(cluster, shell, server_name)
        scratch.set_up(payload)
        yield scratch
    finally:
        cluster.drop(shell)
        shell.run(f"rm -rf {WORK}")
