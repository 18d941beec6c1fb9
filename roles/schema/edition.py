"""Which TimescaleDB edition to render, and a refusal when the ledger was applied for the
other one. Pure (no pyinfra import); roles.schema.facts.TimescaleEdition reads the evidence.

`auto` decides from what the host has, strongest evidence first:
1. `SHOW timescaledb.license` in the database (the extension is loaded there);
2. `timescaledb.license` set in the cluster's configuration files;
3. the TimescaleDB library installed for this PostgreSQL version: the licensed build ships
   `timescaledb-tsl-<version>.so` beside `timescaledb-<version>.so` and then defaults to
   the timescale licence, Debian's build ships no TSL module and is Apache-only;
4. nothing installed yet (first deploy of a bare host): what the package source ships.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from roles.schema.units import Edition

README_SECTION = "README.md, 'Changing the TimescaleDB edition'"


@dataclass(frozen=True)
class EditionEvidence:
    licence: str | None = None  # SHOW timescaledb.license; None without database/extension
    configured: str | None = None  # timescaledb.license in the cluster's configuration
    library: Edition | None = None  # timescale: TSL module installed; apache: core only


def choose(wanted: str, evidence: EditionEvidence, source: str) -> tuple[Edition, str]:
    """(edition, why) for schema.edition `wanted` on a host with `evidence`."""
    if wanted in ("timescale", "apache"):
        return ("timescale" if wanted == "timescale" else "apache"), f"schema.edition is {wanted}"
    if evidence.licence is not None:
        return _of(
            evidence.licence
        ), f"the database reports timescaledb.license = {evidence.licence}"
    if evidence.configured is not None:
        return _of(evidence.configured), (
            f"the cluster's configuration sets timescaledb.license = {evidence.configured}"
        )
    if evidence.library == "timescale":
        return "timescale", "the licensed TimescaleDB library (TSL module) is installed"
    if evidence.library == "apache":
        return "apache", "the installed TimescaleDB has no TSL module (Apache-only build)"
    if source == "debian":
        return "apache", "nothing installed yet; Debian's package is the Apache-only build"
    return "timescale", "nothing installed yet; Timescale's repository ships the licensed build"


def _of(licence: str) -> Edition:
    return "timescale" if licence == "timescale" else "apache"


class EditionChanged(ValueError):
    """The ledger holds units applied for the other edition."""

    def __init__(self, planned: Edition, applied: Edition, units: list[str], why: str) -> None:
        shown = ", ".join(units[:4]) + (f" and {len(units) - 4} more" if len(units) > 4 else "")
        super().__init__(
            f"this database's schema was applied for the {applied} edition ({shown}); this "
            f"deploy renders the {planned} edition ({why}). Timestack does not switch editions "
            f"by itself: follow {README_SECTION} (it keeps every row), or set schema.edition: "
            f"{applied} to stay on the {applied} edition"
        )


def check_ledger(planned: Edition, editions: Mapping[str, str], why: str) -> None:
    """Raise EditionChanged when a ledger row (unit key -> edition) names the other edition."""
    other = sorted(key for key, edition in editions.items() if edition != planned)
    if other:
        applied = _of(editions[other[0]])
        raise EditionChanged(planned, applied, other, why)
