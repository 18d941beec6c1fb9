"""Facts the pgbouncer role reads: the running configuration and the password lookup."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import override

from roles.pgbouncer.config import LOOKUP_SCHEMA, OS_USER, SOCKET_DIR
from roles.pgclient import OFFLINE, ClusterSqlFact, psql, when_online
from roles.sql import quote_literal


def admin_console(port: int, command: str) -> str:
    """A psql command on pgBouncer's admin console, as the postgres OS user (peer)."""
    return (
        f"runuser -u {OS_USER} -- psql -h {SOCKET_DIR} -p {port} -U {OS_USER} -d pgbouncer "
        f"-XAtq -F '|' -c {shlex.quote(command)}"
    )


def running_console(command: str) -> str:
    """`command` on the admin console of the pgBouncer that runs, found by its Unix socket;
    OFFLINE when none runs. PostgreSQL keeps a .lock file beside each of its sockets;
    pgBouncer's socket has none."""
    find_port = (
        f"port=; for s in {SOCKET_DIR}/.s.PGSQL.*; do case $s in *.lock) continue;; esac; "
        '[ -S "$s" ] && [ ! -e "$s.lock" ] && port=${s##*.}; done; '
        f'[ -n "$port" ] || {{ echo {OFFLINE}; exit 0; }}; '
    )
    console = admin_console(0, command).replace(" -p 0 ", ' -p "$port" ')
    return f"{find_port}{console} 2>/dev/null || echo {OFFLINE}"


class RunningConfig(FactBase[dict[str, str] | None]):
    """SHOW CONFIG of the running pgBouncer, found by its Unix socket (so a port change in
    pgbouncer.ini does not hide the process still on the old port); None when none runs."""

    @override
    def command(self) -> str:
        return running_console("SHOW CONFIG")

    @override
    def process(self, output: list[str]) -> dict[str, str] | None:
        if output[-1:] == [OFFLINE]:
            return None
        return {line.split("|")[0]: line.split("|")[1] for line in output if "|" in line}


class LookupFunction(ClusterSqlFact[str | None]):
    """The marker comment of the lookup function in a database ("" when absent); None when
    the database cannot be reached yet."""

    @override
    def command(self, version: int, cluster: str, database: str) -> str:
        sql = (
            "SELECT coalesce(obj_description(p.oid, 'pg_proc'), '') FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            f"WHERE n.nspname = {quote_literal(LOOKUP_SCHEMA)} "
            "AND p.proname = 'get_auth' UNION ALL SELECT 'timestack:none'"
        )
        return when_online(version, cluster, database) + psql(version, cluster, sql, database)

    @override
    def parse(self, output: list[str]) -> str | None:
        markers = [line for line in output if line != "timestack:none"]
        return markers[0] if markers else ""
