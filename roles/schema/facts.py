"""Facts of the schema role: the TimescaleDB edition evidence, the ledger and the live policy state.

SQL runs as the postgres OS user over the local socket (roles.postgres.facts.psql). Before
the cluster runs or the database exists (first deploy) they report that instead of failing.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyinfra.api import FactBase
from typing_extensions import override

from roles.pgclient import ClusterSqlFact, psql, when_online
from roles.schema.edition import EditionEvidence
from roles.schema.engine import LEDGER, LedgerRow, LiveState
from roles.schema.sqltext import quote_literal


def _in_database(version: int, cluster: str, database: str, sql: str) -> str:
    """Run `sql` (psql script, on stdin) in `database`; errors of single statements go to
    stderr and the rest still runs (a missing catalogue view leaves its probe unanswered)."""
    runner = f"{psql(version, cluster, None, database)} -v ON_ERROR_STOP=0"
    return when_online(version, cluster, database) + f"printf '%s\\n' {shlex.quote(sql)} | {runner}"


class TimescaleEdition(FactBase[EditionEvidence]):
    """What decides the edition (roles.schema.edition): the library installed for `version`,
    timescaledb.license in the cluster's configuration files, and `SHOW timescaledb.license`
    in `database` (the GUC only exists where the extension is loaded)."""

    @override
    def command(self, version: int, cluster: str, database: str) -> str:
        lib = f"/usr/lib/postgresql/{version}/lib"
        conf = shlex.quote(f"/etc/postgresql/{version}/{cluster}")
        sql = "SELECT 'licence|' || coalesce(current_setting('timescaledb.license', true), '');"
        return (
            f"if ls {lib}/timescaledb-tsl-*.so >/dev/null 2>&1; then echo library\\|timescale; "
            f"elif ls {lib}/timescaledb-[0-9]*.so >/dev/null 2>&1; then echo library\\|apache; "
            "fi; "
            f"grep -shE '^[[:space:]]*timescaledb\\.license[[:space:]]*=' {conf}/postgresql.conf "
            f"{conf}/conf.d/*.conf | tail -n 1 "
            '| sed -E "s/^[^=]*=[[:space:]]*\'?([a-z]*).*/configured|\\1/"; '
            + _in_database(version, cluster, database, sql)
        )

    @override
    def process(self, output: list[str]) -> EditionEvidence:
        found = dict(line.split("|", 1) for line in output if "|" in line)
        library = found.get("library")
        return EditionEvidence(
            licence=found.get("licence") or None,
            configured=found.get("configured") or None,
            library="timescale" if library == "timescale" else "apache" if library else None,
        )


class SchemaState(ClusterSqlFact[LiveState]):
    """The ledger (`unit key -> checksum, status`) and one value per probe, keyed like the
    units they belong to."""

    @override
    @staticmethod
    def default() -> LiveState:
        return LiveState(database_exists=False)

    @override
    def command(
        self, version: int, cluster: str, database: str, probes: Sequence[tuple[str, str]]
    ) -> str:
        lines = [
            f"SELECT to_regclass('{LEDGER}') IS NOT NULL AS timestack_ledger \\gset",
            "\\if :timestack_ledger",
            "SELECT 'ledger|' || phase || '/' || name || '|' || checksum || '|' || status "
            f"|| '|' || edition FROM {LEDGER};",
            "\\endif",
        ]
        lines += [
            f"SELECT 'probe|' || {quote_literal(key)} || '|' || coalesce(({sql})::text, '');"
            for key, sql in probes
        ]
        return _in_database(version, cluster, database, "\n".join(lines))

    @override
    def parse(self, output: list[str]) -> LiveState:
        ledger: dict[str, LedgerRow] | None = None
        probes: dict[str, str] = {}
        for line in output:
            kind, _, rest = line.partition("|")
            if kind == "ledger":
                key, checksum, status, edition = rest.split("|")
                ledger = ledger or {}
                ledger[key] = LedgerRow(checksum, status, edition)
            elif kind == "probe":
                key, _, value = rest.partition("|")
                probes[key] = value
        return LiveState(database_exists=True, ledger=ledger, probes=probes)
