"""Each component's declared, installed and running version on one host, as ops/versions.py
prints them (imported by that runbook; not a runbook itself). Pure: the answers come from
ops.version_facts.

Declared is what host data names: each package's pin (postgres.package_version, default
any minor of postgres.version; postgres.timescaledb_version, pgbouncer.version,
backup.version: an exact version, a prefix ending in *, or latest) and Kafka's release.
Installed is the Debian package (the release directory for Kafka); running is what the live
process reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from roles.pins import matches
from roles.postgres.config import packages as postgres_packages
from roles.postgres.extensions import TIMESCALEDB, InstalledExtension
from roles.spec import HostSpec

UNKNOWN = "-"
PGBOUNCER_PACKAGE, PGBACKREST_PACKAGE = "pgbouncer", "pgbackrest"


@dataclass(frozen=True)
class Component:
    name: str
    declared: str
    installed: str
    running: str


@dataclass(frozen=True)
class Wanted:
    """What to read on a host, from its groups."""

    packages: tuple[str, ...]
    postgres: bool
    pgbouncer: bool
    kafka: bool


def wanted(spec: HostSpec) -> Wanted:
    groups = spec.groups
    postgres = "timescaledb" in groups
    pgbouncer = "pgbouncer" in groups
    backup = postgres or "pgbackrest_repo" in groups
    names = [
        *(postgres_packages(spec.postgres) if postgres else ()),
        *((PGBOUNCER_PACKAGE,) if pgbouncer else ()),
        *((PGBACKREST_PACKAGE,) if backup else ()),
    ]
    return Wanted(tuple(names), postgres, pgbouncer, "kafka" in groups)


def components(
    spec: HostSpec,
    found: Mapping[str, str],
    extensions: Iterable[InstalledExtension] | None,
) -> list[Component]:
    """The rows for one host; `found` is the ComponentVersions fact, `extensions` the
    ExtensionVersions fact (None while the cluster is offline)."""
    want = wanted(spec)
    deb = {key.removeprefix("deb:"): value for key, value in found.items() if key[:4] == "deb:"}
    rows = []
    if want.postgres:
        pg = spec.postgres
        server, timescaledb = postgres_packages(pg)[0], postgres_packages(pg)[2]
        rows.append(
            Component(
                "PostgreSQL",
                pg.server_pin,
                deb.get(server, UNKNOWN),
                found.get("postgres", UNKNOWN),
            )
        )
        rows.append(
            Component(
                "TimescaleDB",
                pg.timescaledb_version,
                deb.get(timescaledb, UNKNOWN),
                _extension(TIMESCALEDB, extensions),
            )
        )
    if want.pgbouncer:
        rows.append(
            Component(
                "pgBouncer",
                spec.pgbouncer.version,
                deb.get(PGBOUNCER_PACKAGE, UNKNOWN),
                found.get("pgbouncer", UNKNOWN),
            )
        )
    if PGBACKREST_PACKAGE in want.packages:
        # No daemon to ask on a database host: each archive and backup runs the binary.
        installed = deb.get(PGBACKREST_PACKAGE, UNKNOWN)
        rows.append(Component("pgBackRest", spec.backup.version, installed, installed))
    if want.kafka:
        rows.append(
            Component(
                "Kafka",
                spec.kafka.version,
                found.get("kafka-installed", UNKNOWN),
                found.get("kafka-running", UNKNOWN),
            )
        )
    return rows


def _extension(name: str, found: Iterable[InstalledExtension] | None) -> str:
    """`<installed> in <database>, …` with the package's default version, e.g.
    `2.19.3 in telemetry (default 2.19.3)`."""
    rows = [e for e in found or () if e.name == name]
    if not rows:
        return UNKNOWN
    installed = ", ".join(f"{e.installed} in {e.database}" for e in rows)
    defaults = sorted({e.default or UNKNOWN for e in rows})
    return f"{installed} (default {', '.join(defaults)})"


def render(host: str, rows: Iterable[Component]) -> str:
    """A table per host; a row whose versions differ is marked with `*`."""
    table = [("", "component", "declared", "installed", "running")]
    for row in rows:
        mark = "*" if _differs(row) else " "
        table.append((mark, row.name, row.declared, row.installed, row.running))
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    return "\n".join([f"{host}:", *(f"  {line}" for line in lines)])


def _upstream(version: str) -> str:
    """`17.11` of `17.11-1.pgdg13+1` or `17.11 (Debian 17.11-1)`, `2.19.3` of `2.19.3+dfsg-1`."""
    return re.split(r"[-+~ ]", version, maxsplit=1)[0]


def _differs(row: Component) -> bool:
    """Not running what is installed (or not known), or installed is not what is declared
    (a pin: exact, a prefix ending in *, or latest, which any installed version satisfies
    here: the report does not ask the repositories for their candidate)."""
    if UNKNOWN in (row.installed, row.running):
        return True
    declared = row.declared == UNKNOWN or matches(row.declared, row.installed)
    return not declared or _upstream(row.running) != _upstream(row.installed)
