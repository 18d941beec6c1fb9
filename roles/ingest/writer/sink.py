"""The database side: one connection to the primary, a batch per transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .messages import (
    INSERT_AFTER_COPY_FAILED,
    Parsed,
    Reject,
    Table,
    Written,
    copy_rows,
    copy_sql,
    halves,
    insert_sql,
    rejects_sql,
)


class DatabaseUnavailable(Exception):
    """The database cannot take the batch now (down, restarting, read-only): retry later."""


# ---------------------------------------------------------------------------------------
# The database side (psycopg 3)


COLUMNS_SQL = (
    "SELECT attname, atttypid IN ('json'::regtype, 'jsonb'::regtype) FROM pg_attribute "
    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' "
    "ORDER BY attnum"
)
KEY_SQL = (
    "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY "
    "AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n"
)


class Sink:
    """Writes batches to the primary over one connection, reconnecting as needed."""

    def __init__(self, config: Mapping[str, Any], password: str | None) -> None:
        self.config = config
        self.password = password
        self.connection: Any = None
        self.copy_cooldown: dict[str, int] = {}

    def connect(self) -> Any:
        import psycopg

        if self.connection is not None and not self.connection.closed:
            return self.connection
        database = self.config["database"]
        self.connection = psycopg.connect(
            host=",".join(database["hosts"]),
            port=",".join(str(p) for p in database["ports"]),
            dbname=database["dbname"],
            user=database["user"],
            password=self.password,
            sslmode=database.get("sslmode", "prefer"),
            sslrootcert=database.get("sslrootcert"),
            target_session_attrs="read-write",
            connect_timeout=database.get("connect_timeout", 5),
            application_name=database.get("application_name", "timestack-ingest"),
            options=f"-c statement_timeout={database.get('statement_timeout_ms', 60000)}",
            prepare_threshold=None,  # safe through a transaction-pooling pgBouncer too
        )
        return self.connection

    def describe(self, table: Table) -> Table:
        """The table with its insertable columns, JSON columns and primary key, from the
        catalog (what the writer's role may read without a grant)."""

        def work(connection: Any) -> Table:
            with connection.cursor() as cursor:
                cursor.execute(COLUMNS_SQL, (table.name,))
                rows = cursor.fetchall()
                cursor.execute(KEY_SQL, (table.name,))
                key = tuple(row[0] for row in cursor.fetchall())
            connection.rollback()
            return replace(
                table,
                columns=tuple(name for name, _json in rows),
                json_columns=frozenset(name for name, json in rows if json),
                key=key,
            )

        described: Table = self.run(work)
        return described

    def run(self, work: Callable[[Any], Any]) -> Any:
        """`work(connection)`; a lost or read-only connection is DatabaseUnavailable."""
        import psycopg

        try:
            return work(self.connect())
        except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction,
                psycopg.errors.AdminShutdown, psycopg.InternalError) as error:  # fmt: skip
            self.close()
            raise DatabaseUnavailable(str(error).strip().splitlines()[0]) from error

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # broken already: a new one comes next
                self.connection.close()
        self.connection = None

    def write(self, table: Table, parsed: list[Parsed], rejects: list[Reject]) -> Written:
        """Rows and rejects of one batch in one transaction."""

        def work(connection: Any) -> Written:
            with connection.transaction():
                inserted = self._copy(connection, table, parsed)
                copied, bad = inserted is not None, list(rejects)
                if inserted is None:
                    inserted, refused = self._insert_isolating(connection, table, parsed)
                    bad += refused
                self._keep_rejects(connection, table, bad)
            return Written(
                inserted, len(parsed) - inserted - (len(bad) - len(rejects)), bad, copied
            )

        result: Written = self.run(work)
        return result

    def _copy(self, connection: Any, table: Table, parsed: list[Parsed]) -> int | None:
        """Rows COPYed, or None when the batch must go the INSERT way."""
        import psycopg

        cooldown = self.copy_cooldown.get(table.name, 0)
        if cooldown:
            self.copy_cooldown[table.name] = cooldown - 1
            return None
        if not parsed:
            return 0
        try:
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy(copy_sql(table)) as copy:
                    for values in copy_rows(parsed, table):
                        copy.write_row(values)
                return int(cursor.rowcount)
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as error:
            if isinstance(error, psycopg.ProgrammingError) and error.sqlstate:
                raise  # the server's (a missing grant, a dropped column): not the data's
            # A value psycopg cannot send (an object for a number column) has no SQLSTATE.
            self.copy_cooldown[table.name] = INSERT_AFTER_COPY_FAILED
            return None

    def _insert_isolating(
        self, connection: Any, table: Table, parsed: Sequence[Parsed]
    ) -> tuple[int, list[Reject]]:
        """Insert `parsed` set-based: (rows inserted, rejects). A failing set is halved
        until each bad message stands alone (k bad in n: about 2 k log2 n statements)."""
        import psycopg

        if not parsed:
            return 0, []
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute(insert_sql(table), ([p.text for p in parsed],))
                return int(cursor.rowcount), []
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            if len(parsed) == 1:
                return 0, [Reject(parsed[0].message, _error_text(error), error.sqlstate)]
        first, second = halves(parsed)
        rows_first, bad_first = self._insert_isolating(connection, table, first)
        rows_second, bad_second = self._insert_isolating(connection, table, second)
        return rows_first + rows_second, bad_first + bad_second

    def _keep_rejects(self, connection: Any, table: Table, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                rejects_sql(self.config["rejects"]),
                [
                    (r.message.topic(), r.message.partition(), r.message.offset(),
                     r.message.key(), r.message.value() or b"", r.error, r.sqlstate, table.name)
                    for r in rejects
                ],
            )  # fmt: skip


def _error_text(error: Exception) -> str:
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(error).strip().splitlines()[0]
    detail = getattr(diag, "message_detail", None)
    return f"{primary} ({detail})" if detail else primary
