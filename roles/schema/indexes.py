"""Redundant indexes in the time-series spec, pure: warnings, not errors.

A btree index whose columns (direction aside: a btree is scanned both ways) are the leading
columns of the table's primary key, or of another btree index of the spec, answers no query
the longer one cannot, and costs a write on every insert plus its disk. Primary keys are
read from the CREATE TABLE statements of the spec's 10-schema directory (a table-level
`PRIMARY KEY (a, b)` or a column's own `PRIMARY KEY`). Partial and covering (INCLUDE)
indexes are left alone: they can be smaller or answer from the index alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from roles.schema.model import Hypertable, Index, LoadedSpec
from roles.schema.sqltext import split_statements, strip_comments

_CREATE = re.compile(
    r"create\s+table\s+(?:if\s+not\s+exists\s+)?([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*\((.*)\)",
    re.IGNORECASE | re.DOTALL,
)
_TABLE_PK = re.compile(r"primary\s+key\s*\(([^)]*)\)", re.IGNORECASE)
_COLUMN_PK = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s[^,]*?\bprimary\s+key\b", re.IGNORECASE | re.M)


def primary_keys(loaded: LoadedSpec) -> dict[str, tuple[str, ...]]:
    """Table -> primary key columns, from the CREATE TABLE statements of 10-schema."""
    keys: dict[str, tuple[str, ...]] = {}
    directory = loaded.path.parent / "10-schema"
    for path in sorted(directory.glob("*.sql")) if directory.is_dir() else []:
        for statement in split_statements(path.read_text(encoding="utf-8")):
            match = _CREATE.search(strip_comments(statement))
            if not match:
                continue
            body = match[2]
            found = _TABLE_PK.search(body)
            if found:
                keys[match[1].lower()] = _names(found[1].split(","))
            elif column := _COLUMN_PK.search(body):
                keys[match[1].lower()] = (column[1].lower(),)
    return keys


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
