"""`python -m roles.schema plan --spec sql/timeseries.yml --edition timescale|apache
[--pg-version 17]`: the ordered SQL Timestack would apply (phase, file, statement), without
a database. Exit status 2 and one line per fault when the spec or a phase file is invalid."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from roles.schema.engine import LEDGER_DDL
from roles.schema.indexes import redundant_indexes
from roles.schema.model import SpecFileError, load_spec
from roles.schema.render import plan
from roles.schema.units import EDITIONS, Unit

ROOT = Path(__file__).resolve().parents[2]
PG_VERSIONS = range(13, 19)


def describe(unit: Unit) -> str:
    """The comment line heading a unit in the plan."""
    how = "one transaction" if unit.transactional else "no transaction (safe to re-run)"
    line = (
        f"-- phase {unit.phase} | {unit.name} | {unit.kind}, {how} | from {unit.source} "
        f"| sha256 {unit.checksum[:12]}"
    )
    if unit.licensed:
        line += " | needs the timescale licence"
    return line + (f"\n-- {unit.note}" if unit.note else "")


def render_plan(units: Sequence[Unit], edition: str, pg_version: int) -> str:
    out = [
        f"-- Timestack schema plan: edition {edition}, PostgreSQL {pg_version}, {len(units)} units",
        "",
        "-- the ledger, created before every unit (so its schema, timestack, exists)",
        *(f"{statement};" for statement in LEDGER_DDL),
    ]
    for unit in units:
        out += ["", describe(unit)]
        out += [f"{statement};" for statement in unit.statements]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roles.schema")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("plan", help="print the ordered SQL, without a database")
    show.add_argument("--spec", default="sql/timeseries.yml", help="the time-series spec")
    show.add_argument("--edition", required=True, choices=EDITIONS)
    show.add_argument("--pg-version", type=int, default=17, choices=PG_VERSIONS, metavar="{13..18}")
    args = parser.parse_args(argv)
    spec_path = Path(args.spec)
    if not spec_path.is_absolute():
        spec_path = Path.cwd() / spec_path
    try:
        loaded = load_spec(spec_path.resolve(), ROOT)
        units = plan(loaded, args.edition)
    except SpecFileError as error:
        print(error, file=sys.stderr)
        return 2
    for warning in redundant_indexes(loaded):
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(render_plan(units, args.edition, args.pg_version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
