"""What the CREATE TABLE statements of a spec's 10-schema directory declare, read with
PostgreSQL's own parser (pglast, libpg_query): columns and unique keys per table. Pure.

Used before any host is touched: the ingest writers' conflict policy needs a unique key and
existing columns, and redundant indexes are judged against the primary key. Keys added later
by ALTER TABLE are not seen; declare them in the CREATE TABLE or a CREATE UNIQUE INDEX.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pglast
import pglast.parser
from pglast import ast
from pglast.enums import ConstrType


@dataclass
class TableShape:
    name: str  # schema-qualified, lower case
    columns: dict[str, bool] = field(default_factory=dict)  # column -> generated
    primary_key: tuple[str, ...] = ()
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)  # primary key first

    @property
    def insertable(self) -> list[str]:
        return [name for name, generated in self.columns.items() if not generated]


def _qualified(relation: ast.RangeVar | None) -> str:
    assert relation is not None  # CREATE TABLE and CREATE INDEX always name one
    return f"{relation.schemaname or 'public'}.{relation.relname}".lower()


def _keys(constraint: ast.Constraint) -> tuple[str, ...]:
    return tuple(key.sval.lower() for key in constraint.keys or ())


def _table(statement: ast.CreateStmt) -> TableShape:
    shape = TableShape(_qualified(statement.relation))
    for element in statement.tableElts or ():
        if isinstance(element, ast.ColumnDef):
            name = str(element.colname).lower()
            kinds = {c.contype for c in element.constraints or ()}
            shape.columns[name] = ConstrType.CONSTR_GENERATED in kinds
            if ConstrType.CONSTR_PRIMARY in kinds:
                shape.primary_key = (name,)
            if ConstrType.CONSTR_UNIQUE in kinds:
                shape.unique_keys.append((name,))
        elif isinstance(element, ast.Constraint):
            if element.contype == ConstrType.CONSTR_PRIMARY:
                shape.primary_key = _keys(element)
            elif element.contype == ConstrType.CONSTR_UNIQUE:
                shape.unique_keys.append(_keys(element))
    if shape.primary_key:
        shape.unique_keys.insert(0, shape.primary_key)
    return shape


def _unique_index(statement: ast.IndexStmt) -> tuple[str, ...] | None:
    """The columns of a plain (not partial, not expression) unique index."""
    if not statement.unique or statement.whereClause is not None:
        return None
    columns = [param.name for param in statement.indexParams or ()]
    if not columns or any(name is None for name in columns):
        return None
    return tuple(str(name).lower() for name in columns)


def table_shapes(
    texts: Iterable[str], shapes: dict[str, TableShape] | None = None
) -> dict[str, TableShape]:
    """Table name -> shape, over SQL texts in order (added to `shapes`, so a unique index
    may follow its table in a later file). Raises pglast.parser.ParseError."""
    shapes = {} if shapes is None else shapes
    for text in texts:
        for raw in pglast.parse_sql(text):
            statement = raw.stmt
            if isinstance(statement, ast.CreateStmt):
                shape = _table(statement)
                shapes[shape.name] = shape
            elif isinstance(statement, ast.IndexStmt):
                columns = _unique_index(statement)
                owner = shapes.get(_qualified(statement.relation))
                if columns and owner:
                    owner.unique_keys.append(columns)
    return shapes


class DdlError(Exception):
    """A 10-schema file PostgreSQL's parser refuses: str() names the file and the fault."""


def schema_shapes(spec_dir: Path) -> dict[str, TableShape]:
    """The shapes the 10-schema directory beside a spec declares ({} if it has none)."""
    directory = spec_dir / "10-schema"
    shapes: dict[str, TableShape] = {}
    for path in sorted(directory.glob("*.sql")) if directory.is_dir() else []:
        try:
            table_shapes([path.read_text(encoding="utf-8")], shapes)
        except pglast.parser.ParseError as error:
            raise DdlError(f"{path.name}: not valid SQL ({error})") from None
        except UnicodeDecodeError as error:
            where = f"{error.reason} at byte {error.start}"
            raise DdlError(f"{path.name}: not UTF-8 text ({where})") from None
    return shapes
