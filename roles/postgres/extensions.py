"""Which extensions follow their packages: what to update, in what order, as what SQL. Pure.

A newer package ships an extension's new scripts (and, for TimescaleDB, a new library) but
leaves every database at the version CREATE EXTENSION installed: `ALTER EXTENSION … UPDATE`
moves it, database by database. TimescaleDB's procedure asks for that statement as the first
one of a fresh `psql -X` session: a session that ran anything before it may already have
loaded the old library, and once the package removed it, sessions fail with `could not access
file "$libdir/timescaledb-2.x.y"`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby

from roles.sql import quote_ident, quote_literal

TIMESCALEDB = "timescaledb"
# Each row the ExtensionVersions fact reads: database|extension|installed|default ('' when
# no control file offers the extension any more).
QUERY = (
    "SELECT current_database(), e.extname, e.extversion, coalesce(a.default_version, '') "
    "FROM pg_extension e LEFT JOIN pg_available_extensions a ON a.name = e.extname "
    "ORDER BY e.extname"
)


@dataclass(frozen=True)
class InstalledExtension:
    database: str
    name: str
    installed: str
    default: str | None  # what the package ships now; None: no package offers it

    @property
    def outdated(self) -> bool:
        return self.default is not None and self.installed != self.default


@dataclass(frozen=True)
class Session:
    """Statements for one psql session of their own, in `database`."""

    database: str
    sql: str


def parse(line: str) -> InstalledExtension:
    """One row of QUERY (a database name may hold '|': it is split off last)."""
    database, name, installed, default = line.rsplit("|", 3)
    return InstalledExtension(database, name, installed, default or None)


def update(extension: InstalledExtension) -> str:
    # TO the version read, not a bare UPDATE: what --dry shows is what runs.
    return (
        f"ALTER EXTENSION {quote_ident(extension.name)} "
        f"UPDATE TO {quote_literal(extension.default or '')}"
    )


def update_sessions(found: Iterable[InstalledExtension]) -> list[Session]:
    """The sessions bringing every outdated extension to its default version, per database
    (sorted): TimescaleDB's update alone in the first, then the others (extensions built on
    TimescaleDB follow it) in one session; nothing for a database already current."""
    outdated = sorted((e for e in found if e.outdated), key=lambda e: (e.database, e.name))
    sessions = []
    for database, group in groupby(outdated, key=lambda e: e.database):
        extensions = list(group)
        first = [e for e in extensions if e.name == TIMESCALEDB]
        others = [e for e in extensions if e.name != TIMESCALEDB]
        sessions += [Session(database, update(e)) for e in first]
        if others:
            sessions.append(Session(database, "; ".join(update(e) for e in others)))
    return sessions


def mismatches(found: Iterable[InstalledExtension]) -> list[str]:
    """Each extension not at its package's default version, as `database.extension:
    installed X, package default Y` (verify's report)."""
    return [
        f"{e.database}.{e.name}: installed {e.installed}, "
        + (f"package default {e.default}" if e.default else "no package offers it")
        for e in found
        if e.installed != e.default
    ]
