"""The stock-settings cluster the tuned one is compared with, made on the database host.

`pg_createcluster <version> bench_defaults --port 5499` with only
shared_preload_libraries=timescaledb (and listen_addresses, so the client can reach it: a
connection setting, not a tuning one); everything else is what Debian and PostgreSQL ship.
The same roles (same SCRAM verifiers), the telemetry database and the apache-edition schema
plan of roles/schema (engine scripts, ledger included) are applied, so the bench tables
LIKE the same definitions on both clusters. A second pgBouncer with pgBouncer's own defaults
(session pooling) fronts it. Commands reach the host through Testinfra's connector
(`docker://`, `ssh://`), the same mapping tests/verify uses for the inventory.
"""

from __future__ import annotations

import base64
import gzip
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roles.pgclient import psql
from roles.postgres.config import ALWAYS_CREATED
from roles.postgres.scram import verifier
from roles.schema import engine
from roles.schema.model import load_spec
from roles.schema.render import plan
from roles.sql import quote_ident, quote_literal

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = "bench_defaults"
PORT = 5499
BOUNCER_PORT = 6499
BOUNCER_DIR = "/var/lib/postgresql/timestack-bench-pgbouncer"  # not /tmp: systemd's tmpfs
UPLOAD_PIECE = 96_000  # base64 characters per command: well under Linux's 128 KiB argument


class HostCommandError(RuntimeError):
    pass


class HostShell:
    """Runs shell commands on the database host; raises with stderr on failure."""

    def __init__(self, hostspec: str, testinfra_host: Any) -> None:
        self.hostspec = hostspec
        self._host = testinfra_host

    def run(self, command: str, stdin: str | None = None) -> str:
        if stdin is not None:  # Testinfra has no stdin: ship it inside the command
            encoded = base64.b64encode(stdin.encode()).decode()
            command = f"printf %s {encoded} | base64 -d | {command}"
        result = self._host.run(command)
        if result.rc != 0:
            raise HostCommandError(
                f"{self.hostspec}: exit {result.rc}: {command[:200]}\n{result.stderr.strip()}"
            )
        return str(result.stdout)

    def upload(self, path: str, data: bytes, owner: str = "root") -> None:
        """`data` into the file `path` (0600, `owner`'s). Testinfra has no file transfer and
        a command is at most 128 KiB: compressed, in base64 pieces appended to a staging
        file. Never for a secret: the pieces are command lines."""
        encoded = base64.b64encode(gzip.compress(data, 6)).decode()
        staged = shlex.quote(f"{path}.gz.b64")
        self.run(f"umask 077 && : > {staged}")
        for at in range(0, len(encoded), UPLOAD_PIECE):
            self.run(f"printf %s {encoded[at : at + UPLOAD_PIECE]} >> {staged}")
        target = shlex.quote(path)
        self.run(
            f"umask 077 && base64 -d {staged} | gzip -dc > {target} && rm -f {staged} && "
            f"chown {shlex.quote(owner)}: {target}"
        )


@dataclass(frozen=True)
class DefaultsCluster:
    version: int
    database: str
    owner: str
    roles: Sequence[tuple[str, str]]  # (name, password): the tuned cluster's login roles
    hba_addresses: Sequence[str]  # networks the tuned cluster admits to the database

    def create(self, shell: HostShell) -> None:
        self.drop(shell)  # a leftover of a killed run
        try:
            self._create(shell)
        except BaseException:
            self.drop(shell)  # never left half made (and listening)
            raise

    def _create(self, shell: HostShell) -> None:
        shell.run(
            f"pg_createcluster {self.version} {CLUSTER} --port {PORT} --start "
            "-o shared_preload_libraries=timescaledb -o 'listen_addresses=*' >/dev/null"
        )
        hba = "".join(
            f"host {self.database} all {address} scram-sha-256\n" for address in self.hba_addresses
        )
        shell.run(f"tee -a /etc/postgresql/{self.version}/{CLUSTER}/pg_hba.conf >/dev/null", hba)
        shell.run(f"pg_ctlcluster {self.version} {CLUSTER} reload")
        # One verifier per role for server and pgBouncer: pgBouncer's SCRAM pass-through
        # only logs in when both hold the same salt and iteration count.
        secrets = {name: verifier(password) for name, password in self.roles}
        shell.run(psql(self.version, CLUSTER, None), self._bootstrap_sql(secrets))
        # What the postgres role creates in the database (the views read pg_stat_statements).
        extensions = ("timescaledb", "postgis", *ALWAYS_CREATED)
        shell.run(
            psql(self.version, CLUSTER, None, self.database),
            " ".join(f"CREATE EXTENSION IF NOT EXISTS {name};" for name in extensions),
        )
        self._apply_schema(shell)
        self._start_bouncer(shell, secrets)

    def _bootstrap_sql(self, secrets: Mapping[str, str]) -> str:
        lines = [
            f"CREATE ROLE {quote_ident(name)} LOGIN PASSWORD {quote_literal(secret)};"
            for name, secret in secrets.items()
        ]
        lines.append(
            f"CREATE DATABASE {quote_ident(self.database)} OWNER {quote_ident(self.owner)};"
        )
        return "\n".join(lines) + "\n"

    def _apply_schema(self, shell: HostShell) -> None:
        """The apache plan, one engine script per unit, exactly as the schema role runs it."""
        units = plan(load_spec(ROOT / "sql/timeseries.yml", ROOT), "apache")
        for unit in units:
            script = engine.script(unit, "apache", self.owner, "5min", "10s")
            shell.run(psql(self.version, CLUSTER, None, self.database), script)

    def _start_bouncer(self, shell: HostShell, secrets: Mapping[str, str]) -> None:
        # SCRAM secrets in the auth file: pgBouncer logs in to the server with them too, so
        # no plaintext password is written on the host.
        users = "".join(f'"{name}" "{secret}"\n' for name, secret in secrets.items())
        ini = (
            f"[databases]\n{self.database} = host=127.0.0.1 port={PORT} dbname={self.database}\n"
            "[pgbouncer]\nlisten_addr = *\n"
            f"listen_port = {BOUNCER_PORT}\nunix_socket_dir = {BOUNCER_DIR}\n"
            f"auth_type = scram-sha-256\nauth_file = {BOUNCER_DIR}/userlist.txt\n"
            f"pidfile = {BOUNCER_DIR}/pgbouncer.pid\nlogfile = {BOUNCER_DIR}/pgbouncer.log\n"
        )
        directory = shlex.quote(BOUNCER_DIR)
        shell.run(f"install -d -m 0700 -o postgres -g postgres {directory}")
        for name, text in (("userlist.txt", users), ("pgbouncer.ini", ini)):
            shell.run(f"runuser -u postgres -- sh -c 'umask 077; cat > {BOUNCER_DIR}/{name}'", text)
        shell.run(f"runuser -u postgres -- pgbouncer -d -q {BOUNCER_DIR}/pgbouncer.ini")

    def drop(self, shell: HostShell) -> None:
        pidfile = f"{BOUNCER_DIR}/pgbouncer.pid"
        shell.run(
            f"if [ -f {pidfile} ]; then kill $(cat {pidfile}) 2>/dev/null; sleep 0.5; fi; "
            f"rm -rf {shlex.quote(BOUNCER_DIR)}; "
            f"if pg_lsclusters -h {self.version} {CLUSTER} >/dev/null 2>&1 && "
            f'[ -n "$(pg_lsclusters -h {self.version} {CLUSTER})" ]; then '
            f"pg_dropcluster --stop {self.version} {CLUSTER}; fi"
        )
