"""How every role reaches the host's Debian PostgreSQL cluster: psql as the postgres OS user
over the local socket (peer authentication), through Debian's pg_wrapper so `--cluster`
finds the right port; the base of every fact answered by SQL; SQL files fed to psql; the
cluster's systemd unit and standby.signal.

Below the roles: postgres, pgbouncer, backup and schema all use it, and none of them has to
import another for it."""

from __future__ import annotations

import shlex
from collections.abc import Generator
from io import StringIO
from typing import TypeVar

from pyinfra.api import FactBase, FileUploadCommand, StringCommand
from typing_extensions import override

from roles.paths import SECRET_DIR, STATE_DIR
from roles.spec import PostgresSpec
from roles.staging import staged_upload

T = TypeVar("T")
Commands = Generator[StringCommand | FileUploadCommand, None, None]
OFFLINE = "timestack:offline"  # printed instead of an answer: see ClusterSqlFact
STANDBY_SIGNAL = "standby.signal"  # in the data directory: the cluster starts as a standby


def psql(version: int, cluster: str, sql: str | None, database: str = "postgres") -> str:
    """A psql command line: unaligned, tuples only, '|'-separated, stop on the first error.
    Without `sql` it reads the statements from standard input."""
    return _psql(version, cluster, sql, shlex.quote(database))


def _psql(version: int, cluster: str, sql: str | None, database_word: str) -> str:
    """psql() with the database as a shell word (quoted, or a variable's expansion)."""
    command = (
        f"runuser -u postgres -- psql --cluster {version}/{shlex.quote(cluster)} "
        f"-d {database_word} -XAtq -F '|' -v ON_ERROR_STOP=1"
    )
    return command if sql is None else f"{command} -c {shlex.quote(sql)}"


def in_each_database(version: int, cluster: str, sql: str) -> str:
    """One shell command running `sql` in every database that allows connections (template1
    too: new databases copy what it has), one after the other; it fails if one does."""
    listing = psql(
        version, cluster, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname"
    )
    each = _psql(version, cluster, sql, '"$db"')
    # </dev/null: the loop's own input is the list of databases.
    return f"{listing} | while IFS= read -r db; do {each} </dev/null || exit 1; done"


def when_online(version: int, cluster: str, database: str | None = None) -> str:
    """A shell prefix that prints OFFLINE and ends the command unless the cluster is online
    (and, given `database`, that database exists)."""
    guard = (
        f"pg_lsclusters -h {version} {shlex.quote(cluster)} 2>/dev/null | grep -q online || "
        f"{{ echo {OFFLINE}; exit 0; }}; "
    )
    if database is None:
        return guard
    return guard + (
        f"{psql(version, cluster, 'SELECT datname FROM pg_database')} "
        f"| grep -qx {shlex.quote(database)} || {{ echo {OFFLINE}; exit 0; }}; "
    )


def service_name(pg: PostgresSpec) -> str:
    """The cluster's systemd unit (postgresql-common's template)."""
    return f"postgresql@{pg.version}-{pg.cluster}"


def run_sql_file(
    version: int, cluster: str, sql: str, label: str, database: str = "postgres"
) -> Commands:
    """Upload SQL to a root-only directory and feed it to psql on stdin, in one transaction:
    nothing it carries (SCRAM verifiers, definitions) lands on a command line or in output."""
    path = f"{SECRET_DIR}/{label}.sql"
    yield StringCommand("install", "-d", "-m", "0700", STATE_DIR, SECRET_DIR)
    yield staged_upload(StringIO(sql), path)
    runner = psql(version, cluster, None, database)
    yield StringCommand(f"{runner} -1 < {path}; rc=$?; rm -f {path}; exit $rc")


class PostgresCommonFact(FactBase[T]):
    """A fact read with postgresql-common's tools: before the package is installed (a first
    deploy, while preparing) pyinfra skips the command and the fact is its default()."""

    @override
    def requires_command(self, *args: object, **kwargs: object) -> str:
        return "pg_lsclusters"


class ClusterSqlFact(PostgresCommonFact[T]):
    """A fact answered by SQL on one cluster. Where the cluster does not run yet, or the
    database does not exist yet, the command (prefixed with when_online) prints OFFLINE and
    the fact is default() too: the operations then yield idempotent SQL, so a first deploy
    and an interrupted one converge. Subclasses parse the answer."""

    @override
    def process(self, output: list[str]) -> T:
        return self.default() if output == [OFFLINE] else self.parse(output)

    def parse(self, output: list[str]) -> T:
        raise NotImplementedError


class StandbySignal(FactBase[bool]):
    """Whether the data directory holds standby.signal: a standby, built (or being built)."""

    @override
    def command(self, data_directory: str) -> str:
        path = shlex.quote(f"{data_directory.rstrip('/')}/{STANDBY_SIGNAL}")
        return f"if [ -e {path} ]; then echo yes; else echo no; fi"

    @override
    def process(self, output: list[str]) -> bool:
        return output == ["yes"]
