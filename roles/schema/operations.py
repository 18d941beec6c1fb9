"""Operation of the schema role: apply one unit when the ledger or the live state says so.

One pyinfra operation per unit, so `pyinfra ... --dry` lists exactly the units still due.
They decide from one read of the ledger and the probes per host (roles.once), read again
after a unit (or any other operation) changed the host.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Sequence
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation

from roles.once import read_once
from roles.paths import STATE_DIR
from roles.pgclient import psql
from roles.schema import engine
from roles.schema.edition import EditionChanged, check_ledger
from roles.schema.facts import SchemaState
from roles.schema.units import Edition, Unit
from roles.staging import staged_upload

# Root-only staging of unit scripts; each file is removed after psql read it on stdin.
WORK_DIR = f"{STATE_DIR}/schema"

Commands = Generator[StringCommand | FileUploadCommand, None, None]


@operation()
def edition(
    version: int,
    cluster: str,
    database: str,
    edition: Edition,
    why: str,
    probes: Sequence[tuple[str, str]],
) -> Commands:
    """Say which edition this deploy renders and why; refuse, before any unit runs, when the
    ledger holds units applied for the other edition."""
    live = read_once(
        SchemaState, version=version, cluster=cluster, database=database, probes=tuple(probes)
    )
    applied = {key: row.edition for key, row in (live.ledger or {}).items()}
    try:
        check_ledger(edition, applied, why)
    except EditionChanged as error:
        raise OperationError(f"{host.name}: schema.edition: {error}") from None
    host.noop(f"edition {edition}: {why}")
    yield from ()


@operation()
def unit(
    version: int,
    cluster: str,
    database: str,
    owner: str,
    unit: Unit,
    edition: Edition,
    licence: str | None,
    statement_timeout: str,
    lock_timeout: str,
    probes: Sequence[tuple[str, str]],
) -> Commands:
    """Apply `unit` with its ledger row unless the ledger (and, for policy units, the live
    state) already matches."""
    live = read_once(
        SchemaState, version=version, cluster=cluster, database=database, probes=tuple(probes)
    )
    try:
        due, why = engine.decide(unit, live)
    except engine.ChangedSchemaUnit as error:
        raise OperationError(str(error)) from None
    if not due:
        host.noop(f"{unit.key}: {why}")
        return
    if unit.licensed and licence is not None and licence != "timescale":
        raise OperationError(
            f"{unit.key} needs TimescaleDB's 'timescale' licence; {database} runs {licence!r}: "
            "set schema.edition to apache (or auto) for this host"
        )
    if unit.status == "skipped":
        logger.warning(f"{host.name}: {unit.key}: {unit.note}")
    script = engine.script(unit, edition, owner, statement_timeout, lock_timeout)
    path = f"{WORK_DIR}/{unit.phase}--{unit.name}.sql"
    atomic = (
        "the database and the ledger are as they were"
        if unit.transactional
        else "statements before the failing one stayed applied; the unit is safe to re-run"
    )
    failed = shlex.quote(
        f"timestack: unit {unit.key} from {unit.source} failed (PostgreSQL's message and the "
        f"statement are above); {atomic}"
    )
    yield StringCommand("install", "-d", "-m", "0700", STATE_DIR, WORK_DIR)
    yield staged_upload(StringIO(script), path)
    runner = psql(version, cluster, None, database)
    yield StringCommand(
        f"{runner} --echo-errors < {shlex.quote(path)}; rc=$?; rm -f {shlex.quote(path)}; "
        f"[ $rc -eq 0 ] || echo {failed} >&2; exit $rc"
    )
