"""The validator's rule for the `schema` section: the time-series spec file and the phase files
beside it load and render on both editions, so a bad file stops the deploy before any host
changes. roles.hostdata hands it to roles.spec.validate_inventory (the validator imports no role).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from roles.schema.model import SpecFileError, load_spec
from roles.schema.render import plan
from roles.spec import Parsed, Problem, SchemaSpec

PROJECT = Path(__file__).resolve().parents[2]  # schema.spec paths are relative to it


def spec_file_problems(host: Parsed) -> Iterator[Problem]:
    """Problems of the host's time-series spec, where the schema role runs on it."""
    if host.postgres and host.schema and "timescaledb" in host.groups:
        yield from _timeseries_spec(host.schema)


def _timeseries_spec(schema: SchemaSpec) -> Iterator[Problem]:
    """The time-series spec file and the phase files render on both editions."""
    try:
        loaded = load_spec(PROJECT / schema.spec, PROJECT)
        for edition in ("timescale", "apache"):
            plan(loaded, edition)
    except SpecFileError as error:
        for fault in error.errors:
            yield "schema.spec", f"{fault.host}: {fault.field}: {fault.got}", fault.expected
    except UnicodeDecodeError as error:  # a SQL file in the phase directories beside the spec
        expected = "UTF-8 text in every SQL file of the time-series schema"
        found = list(_not_utf8((PROJECT / schema.spec).parent.glob("*/*.sql")))
        for got in found or [f"{schema.spec}: a file that is not UTF-8 ({error.reason})"]:
            yield "schema.spec", got, expected


def _not_utf8(paths: Iterable[Path]) -> Iterator[str]:
    for path in sorted(paths):
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            name = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path
            yield f"{name}: (file): not UTF-8 text ({error.reason} at byte {error.start})"
