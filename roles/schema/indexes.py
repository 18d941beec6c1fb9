"""Redundant indexes in the time-series spec, pure: warnings, not errors.

A btree index whose columns (direction aside: a btree is scanned both ways) are the leading
columns of the table's primary key, or of another btree index of the spec, answers no query
the longer one cannot, and costs a write on every insert plus its disk. Primary keys are
read from the CREATE TABLE statements of the spec's 10-schema directory (roles.schema.ddl).
Partial and covering (INCLUDE) indexes are left alone: they can be smaller or answer from
the index alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from roles.schema.ddl import DdlError, schema_shapes
from roles.schema.model import Hypertable, Index, LoadedSpec


def primary_keys(loaded: LoadedSpec) -> dict[str, tuple[str, ...]]:
    """Table -> primary key columns, from the CREATE TABLE statements of 10-schema (none
    when a file there does not parse: the ingest check reports that)."""
    try:
        shapes = schema_shapes(loaded.path.parent)
    except DdlError:
        return {}
    return {name: shape.primary_key for name, shape in shapes.items() if shape.primary_key}


def _names(columns: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.split()[0].strip('"').lower() for c in columns if c.strip())


def redundant_indexes(loaded: LoadedSpec) -> Iterator[str]:
    """One warning per spec index whose columns lead the primary key or another index."""
    keys = primary_keys(loaded)
    label = loaded.path.name
    for table in loaded.spec.hypertables:
        for index in table.indexes:
            reason = _covered_by(loaded, table, index, keys.get(table.table))
            if reason:
                name = loaded.spec.index_name(table, index)
                yield (
                    f"{label}: hypertables[{table.table}].indexes[{name}]: columns "
                    f"({', '.join(index.columns)}) {reason}; a btree is read in both "
                    "directions, so this index only costs writes and disk: remove it"
                )


def _covered_by(
    loaded: LoadedSpec, table: Hypertable, index: Index, key: tuple[str, ...] | None
) -> str | None:
    if index.using != "btree" or index.where or index.include:
        return None
    columns = _names(index.columns)
    if key and key[: len(columns)] == columns:
        return f"repeat the leading columns of the primary key ({', '.join(key)})"
    position = table.indexes.index(index)
    for number, other in enumerate(table.indexes):
        if other is index or other.using != "btree" or other.where:
            continue
        longer = _names(other.columns)
        # Of two indexes on the same columns, the later one is reported.
        wider = len(longer) > len(columns) or (len(longer) == len(columns) and number < position)
        if wider and longer[: len(columns)] == columns:
            name = loaded.spec.index_name(table, other)
            return f"repeat the leading columns of index {name} ({', '.join(other.columns)})"
    return None
