"""Phase 80-ingest: what the ingest writers need in the database, rendered from the spec's
`ingest:` blocks. Pure.

One policy unit (re-run whenever the spec changes it): the rejects table, where a message
that cannot be a row is kept with its topic, partition, offset, key, raw bytes and
PostgreSQL's error (unique per Kafka position, so a redelivered bad message is kept once);
and the writer role's privileges, least first: revoked on every table of the spec's schemas,
then INSERT on each ingested table (plus, for an update policy, UPDATE on the overwritten
columns and SELECT on the columns ON CONFLICT reads), INSERT on the rejects table.
"""

from __future__ import annotations

from roles.schema.model import OnConflictUpdate, TimeseriesSpec
from roles.schema.sqltext import quote_ident, split_name
from roles.schema.units import Unit

PHASE = "80-ingest"
REJECTS_POSITION = ("topic", '"partition"', '"offset"')


def _name(qualified: str) -> str:
    return ".".join(quote_ident(part) for part in split_name(qualified))


def _columns(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(quote_ident(name) for name in names)


def rejects_ddl(rejects: str) -> list[str]:
    table = _name(rejects)
    index = quote_ident(f"{split_name(rejects)[1]}_received_at_idx")
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (\n"
        "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    received_at timestamptz NOT NULL DEFAULT now(),\n"
        "    topic text NOT NULL,\n"
        '    "partition" integer NOT NULL,\n'
        '    "offset" bigint NOT NULL,\n'
        "    key bytea,\n"
        "    payload bytea NOT NULL,  -- as received: it may not even be UTF-8\n"
        "    error text NOT NULL,\n"
        "    sqlstate text,  -- NULL: refused before the database (not JSON, not an object)\n"
        "    target text NOT NULL,\n"
        f"    UNIQUE ({', '.join(REJECTS_POSITION)})\n"
        ")",
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} (received_at)",
    ]


def ingest_unit(spec: TimeseriesSpec, source: str, owner_key: dict[str, tuple[str, ...]]) -> Unit:
    """`owner_key`: table -> primary key (the ON CONFLICT target of an update policy)."""
    role, rejects = quote_ident(spec.ingest.role), spec.ingest.rejects
    schemas = sorted({split_name(t.table)[0] for t in spec.hypertables} | {split_name(rejects)[0]})
    statements = rejects_ddl(rejects)
    statements.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {_columns(schemas)} FROM {role}")
    statements.append(f"GRANT USAGE ON SCHEMA {_columns(schemas)} TO {role}")
    for table in spec.ingested:
        assert table.ingest is not None
        name = _name(table.table)
        statements.append(f"GRANT INSERT ON {name} TO {role}")
        policy = table.ingest.on_conflict
        if isinstance(policy, OnConflictUpdate):
            read = [*owner_key.get(table.table, ()), *policy.update]
            statements.append(f"GRANT SELECT ({_columns(read)}) ON {name} TO {role}")
            statements.append(f"GRANT UPDATE ({_columns(policy.update)}) ON {name} TO {role}")
    statements.append(f"GRANT INSERT ON {_name(rejects)} TO {role}")
    statements.append(f"GRANT SELECT ({', '.join(REJECTS_POSITION)}) ON {_name(rejects)} TO {role}")
    return Unit(
        phase=PHASE,
        name="ingest-writers",
        source=source,
        statements=tuple(statements),
        kind="policy",
    )
