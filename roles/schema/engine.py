"""The apply engine, pure: which units are due against the ledger and live state, the psql
script that applies one unit with its ledger row.

Every unit script re-checks the ledger itself, so a unit the fact could not see (first
deploy: the database did not exist yet) still never runs twice or over a changed file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from roles.schema.sqltext import quote_ident, quote_literal
from roles.schema.units import Edition, Unit

LEDGER = "timestack.schema_migrations"
# One migrator per database at a time (pg_advisory_lock key: "timestack" as an int8).
LOCK_KEY = 0x74696D6573746B
LEDGER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS timestack",
    f"CREATE TABLE IF NOT EXISTS {LEDGER} (\n"
    "    phase text NOT NULL,\n"
    "    name text NOT NULL,\n"
    "    checksum text NOT NULL,\n"
    "    edition text NOT NULL,\n"
    "    kind text NOT NULL CHECK (kind IN ('schema', 'policy')),\n"
    "    status text NOT NULL CHECK (status IN ('applied', 'skipped')),\n"
    "    note text NOT NULL DEFAULT '',\n"
    "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
    "    PRIMARY KEY (phase, name)\n"
    ")",
)


@dataclass(frozen=True)
class LedgerRow:
    checksum: str
    status: str
    edition: str


@dataclass(frozen=True)
class LiveState:
    """What the SchemaState fact read from the database."""

    database_exists: bool
    licence: str | None = None  # timescaledb.license; None without the extension
    ledger: Mapping[str, LedgerRow] | None = None  # by unit key; None: no ledger table yet
    probes: Mapping[str, str] = field(default_factory=dict)  # unit key -> probe value


class ChangedSchemaUnit(ValueError):
    """An applied schema unit whose text changed: schema files are immutable once applied."""

    def __init__(self, unit: Unit, applied: str) -> None:
        super().__init__(
            f"{unit.source} ({unit.key}) was applied with checksum {applied[:12]}, it is now "
            f"{unit.checksum[:12]}: applied schema files are never re-run or edited; restore "
            f"the applied text and put the change in a new file of {unit.phase}"
        )


def decide(unit: Unit, live: LiveState) -> tuple[bool, str]:
    """(due, why) for one unit; raises ChangedSchemaUnit for an edited schema unit."""
    row = (live.ledger or {}).get(unit.key)
    if row is None:
        return True, "not in the ledger yet"
    if unit.kind == "schema":
        if row.checksum != unit.checksum:
            raise ChangedSchemaUnit(unit, row.checksum)
        return False, f"{row.status}, checksum matches"
    if row.checksum != unit.checksum:
        return True, f"spec changed since it was {row.status}"
    if unit.probe and not unit.probe.matches(live.probes.get(unit.key)):
        found = live.probes.get(unit.key)
        return True, (
            f"live state {found!r} differs from the spec's {unit.probe.expected!r}"
            if found
            else "not found in the database"
        )
    return False, f"{row.status}, matches the spec"


def script(
    unit: Unit, edition: Edition, owner: str, statement_timeout: str, lock_timeout: str
) -> str:
    """The psql script applying one unit and its ledger row (run with ON_ERROR_STOP)."""
    transactional = unit.transactional
    lines = [
        f"SET statement_timeout = {quote_literal(statement_timeout)};",
        f"SET lock_timeout = {quote_literal(lock_timeout)};",
        "SET application_name = 'timestack-schema';",
        "SET client_min_messages = warning;",  # not the IF NOT EXISTS notices of every run
    ]
    if transactional:
        lines += ["BEGIN;", f"SET LOCAL ROLE {quote_ident(owner)};"]
        lines.append(f"SELECT pg_advisory_xact_lock({LOCK_KEY}) \\g /dev/null")
    else:
        lines.append(f"SET ROLE {quote_ident(owner)};")
        lines.append(f"SELECT pg_advisory_lock({LOCK_KEY}) \\g /dev/null")
    lines += [f"{statement};" for statement in LEDGER_DDL]
    if unit.licensed:
        lines.append(_licence_guard(unit))
    if unit.kind == "schema":
        lines += _schema_guard(unit, transactional)
    lines += [f"{statement};" for statement in unit.statements]
    lines.append(_ledger_insert(unit, edition) + ";")
    if transactional:
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def _licence_guard(unit: Unit) -> str:
    message = quote_literal(
        f"{unit.key} needs the TimescaleDB licence 'timescale'; this database runs %"
    )
    return (
        "DO $timestack$ BEGIN IF current_setting('timescaledb.license', true) "
        f"IS DISTINCT FROM 'timescale' THEN RAISE EXCEPTION {message}, "
        "coalesce(current_setting('timescaledb.license', true), 'no timescaledb') "
        "USING ERRCODE = 'feature_not_supported'; END IF; END $timestack$;"
    )


def _where(unit: Unit) -> str:
    return f"phase = {quote_literal(unit.phase)} AND name = {quote_literal(unit.name)}"


def _schema_guard(unit: Unit, transactional: bool) -> list[str]:
    message = quote_literal(
        f"{unit.source} ({unit.key}) was applied with checksum %, it is now "
        f"{unit.checksum[:12]}: restore the applied text and put the change in a new file"
    )
    return [
        # Applied with this checksum (by a run the fact did not see): nothing to do.
        f"SELECT EXISTS (SELECT FROM {LEDGER} WHERE {_where(unit)} "
        f"AND checksum = {quote_literal(unit.checksum)}) AS timestack_done \\gset",
        "\\if :timestack_done",
        *(["ROLLBACK;"] if transactional else []),
        f"\\echo timestack: {unit.key} already applied",
        "\\quit",
        "\\endif",
        "DO $timestack$ DECLARE applied text; BEGIN "
        f"SELECT left(checksum, 12) INTO applied FROM {LEDGER} WHERE {_where(unit)}; "
        f"IF applied IS NOT NULL THEN RAISE EXCEPTION {message}, applied; END IF; "
        "END $timestack$;",
    ]


def _ledger_insert(unit: Unit, edition: Edition) -> str:
    values = ", ".join(
        quote_literal(v)
        for v in (unit.phase, unit.name, unit.checksum, edition, unit.kind, unit.status, unit.note)
    )
    return (
        f"INSERT INTO {LEDGER} (phase, name, checksum, edition, kind, status, note) "
        f"VALUES ({values}) ON CONFLICT (phase, name) DO UPDATE SET "
        "checksum = EXCLUDED.checksum, edition = EXCLUDED.edition, kind = EXCLUDED.kind, "
        "status = EXCLUDED.status, note = EXCLUDED.note, applied_at = now()"
    )
