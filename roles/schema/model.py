"""The time-series spec (sql/timeseries.yml): pydantic models, loading, cross-checks.

Pure (no pyinfra import). `load_spec` reads the YAML and reports every fault at once, each
naming the file, the key path and the fix, e.g.
`sql/timeseries.yml: rollups[factory_telemetry.metric_hist_1hour].bucket: got '90 seconds';
expected a multiple of its source's bucket ...`.

Keys (every hypertable and rollup is schema-qualified):
  hypertables[]: table, time_column, chunk_interval,
                 compression {after, segment_by, order_by}      (timescale edition only),
                 retention {drop_after, tenants {policies, map, key}},
                 indexes[] {name, using, columns, include, where, with}
  rollups[]:     name, source (a hypertable or an earlier rollup), bucket, bucket_column,
                 query (a file holding the SELECT, relative to the spec file and outside
                 its phase folders), refresh {start_offset, end_offset, every}
Intervals are `<n> <unit>` with unit second, minute, hour, day or week (plural allowed):
months and years have no fixed length, so bucket multiples could not be checked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from roles.schema.ddl import DdlError, schema_shapes
from roles.schema.immutable import ADVICE, non_immutable_calls, why
from roles.schema.units import PHASES
from roles.spec.errors import FieldError, from_validation_error, render

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_ALIASES = {"s": "second", "sec": "second", "min": "minute", "h": "hour", "d": "day", "w": "week"}
_INTERVAL = re.compile(r"\s*(\d+)\s*([a-z]+?)s?\s*", re.IGNORECASE)
INTERVAL_EXPECTED = "an interval like '1 day', '30 minutes' or '90 days' (second ... week)"


def interval_seconds(text: str) -> int:
    """Seconds in a spec interval; ValueError (the "expected" phrase) when it is not one."""
    match = _INTERVAL.fullmatch(text)
    unit = _ALIASES.get(match[2].lower(), match[2].lower()) if match else ""
    if not match or unit not in _UNITS or int(match[1]) == 0:
        raise ValueError(INTERVAL_EXPECTED)
    return int(match[1]) * _UNITS[unit]


def _canonical_interval(text: str) -> str:
    seconds = interval_seconds(text)
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' * (count != 1)}"
    raise AssertionError("every interval is a whole number of seconds")


def _pattern(regex: str, expected: str) -> AfterValidator:
    compiled = re.compile(regex, re.IGNORECASE)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(expected)
        return value

    return AfterValidator(check)


_NAME = r"[a-z_][a-z0-9_]{0,62}"
# x-expected: a number or list where an interval belongs gets the same phrase as a bad string.
Interval = Annotated[
    str,
    AfterValidator(_canonical_interval),
    Field(json_schema_extra={"x-expected": INTERVAL_EXPECTED}),
]
Ident = Annotated[str, _pattern(_NAME, "a lowercase name: a letter or _, then letters, digits, _")]
Qualified = Annotated[
    str, _pattern(rf"{_NAME}\.{_NAME}", "a schema-qualified name like telemetry.vehicle_telemetry")
]
_ORDERED = rf"{_NAME}( (asc|desc))?( nulls (first|last))?"
# A column with an optional direction; expressions belong in the phase SQL files.
IndexColumn = Annotated[
    str,
    _pattern(
        _ORDERED,
        'a column, optionally with ASC/DESC and NULLS FIRST/LAST, like "time DESC"',
    ),
]
OrderBy = Annotated[
    str,
    _pattern(
        rf"{_ORDERED}(, *{_ORDERED})*",
        'columns with optional ASC/DESC, comma-separated, like "time DESC"',
    ),
]
# Index storage parameters: plain words and numbers only, they are written into the DDL.
WithValue = Annotated[
    int | bool | str, AfterValidator(lambda v: _plain(v, "a number, true/false or a word"))
]


def _plain(value: int | bool | str, expected: str) -> int | bool | str:
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_.]+", value):
        raise ValueError(expected)
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Compression(Model):
    after: Interval = Field(description="compress chunks older than this")
    segment_by: list[Ident] = Field([], description="columns each compressed batch shares")
    order_by: OrderBy = Field(description='order inside a batch, e.g. "time DESC"')


class TenantRetention(Model):
    policies: Qualified = Field(
        description="table (tenant_id, data_type, retention_days): longer or shorter "
        "retention per tenant; data_type is the hypertable's name without schema"
    )
    map: Qualified = Field(description="table mapping `key` values to tenant_id")
    key: Ident = Field(description="column shared by the hypertable and the map")


class Retention(Model):
    drop_after: Interval = Field(description="drop chunks whose data is all older than this")
    tenants: TenantRetention | None = Field(
        None,
        description="per-tenant retention, honoured by timestack.run_retention() (both editions)",
    )


class Index(Model):
    name: Ident | None = Field(None, description="index name (default: derived from columns)")
    using: Literal["btree", "brin", "gist", "gin", "hash", "spgist"] = Field(
        "btree", description="access method"
    )
    columns: list[IndexColumn] = Field(min_length=1, description="indexed columns")
    include: list[Ident] = Field([], description="covering columns (INCLUDE)")
    where: str | None = Field(None, description="predicate of a partial index", min_length=1)
    with_: dict[Ident, WithValue] = Field(
        {}, alias="with", description="storage parameters, e.g. {pages_per_range: 128}"
    )


_WAIT = re.compile(r"\s*(\d+)\s*(ms|s)\s*")
WAIT_EXPECTED = "a wait like '200ms' or '1s' (at most 60s)"


def _wait_ms(text: str) -> str:
    match = _WAIT.fullmatch(text)
    if not match or not 0 < int(match[1]) * (1000 if match[2] == "s" else 1) <= 60_000:
        raise ValueError(WAIT_EXPECTED)
    return text.strip()


class Batch(Model):
    rows: int = Field(5000, ge=1, le=100_000, description="messages per transaction at most")
    wait: Annotated[str, AfterValidator(_wait_ms)] = Field(
        "200ms", description="longest a message waits for its batch to fill"
    )

    @property
    def wait_ms(self) -> int:
        match = _WAIT.fullmatch(self.wait)
        assert match is not None  # validated
        return int(match[1]) * (1000 if match[2] == "s" else 1)


class OnConflictUpdate(Model):
    update: list[Ident] = Field(min_length=1, description="columns a redelivered key overwrites")


class Ingest(Model):
    """Kafka topic -> this hypertable, one row per JSON message (roles/ingest)."""

    topic: Annotated[str, _pattern(r"[A-Za-z0-9._-]{1,249}", "a Kafka topic name")] = Field(
        description="a topic of kafka.topics"
    )
    on_conflict: Literal["nothing"] | OnConflictUpdate = Field(
        "nothing",
        description="a message whose key exists: nothing (keep the row) or {update: [columns]}",
    )
    batch: Batch = Field(Batch(), description="batch size and wait")


class IngestSettings(Model):
    role: Ident = Field("timestack_ingest", description="database role the writers log in as")
    rejects: Qualified = Field(
        "timestack.ingest_rejects", description="where bad messages are kept, with their error"
    )


class Hypertable(Model):
    table: Qualified = Field(description="the table, created by a sql/10-schema file")
    time_column: Ident = Field(description="the partitioning time column")
    chunk_interval: Interval = Field(description="time range of one chunk")
    compression: Compression | None = Field(None, description="native compression")
    retention: Retention | None = Field(None, description="drop old chunks")
    indexes: list[Index] = Field([], description="indexes beyond the primary key")
    ingest: Ingest | None = Field(None, description="fed from a Kafka topic by the writers")


class Refresh(Model):
    start_offset: Interval = Field(description="window start, back from now")
    end_offset: Interval = Field(description="window end, back from now (newest data left out)")
    every: Interval = Field(description="how often the window is refreshed")


class Rollup(Model):
    name: Qualified = Field(description="the name applications query, on both editions")
    source: Qualified = Field(description="a hypertable or another rollup")
    bucket: Interval = Field(description="time_bucket width used by the query")
    bucket_column: Ident = Field("bucket", description="the query's time_bucket column")
    query: str = Field(description="file with the SELECT, relative to the spec file", min_length=1)
    refresh: Refresh = Field(description="the refresh window and schedule")


class TimeseriesSpec(Model):
    hypertables: list[Hypertable] = Field([], description="tables turned into hypertables")
    rollups: list[Rollup] = Field([], description="rollups (continuous aggregates)")
    ingest: IngestSettings = Field(IngestSettings(), description="the ingest writers' role")

    @property
    def ingested(self) -> list[Hypertable]:
        return [table for table in self.hypertables if table.ingest]

    def index_name(self, table: Hypertable, index: Index) -> str:
        if index.name:
            return index.name
        words = [c.split()[0] for c in index.columns]
        base = "_".join([table.table.split(".")[1], *words, index.using, "idx"])
        return base[:63]

    def ordered_rollups(self) -> list[Rollup]:
        """Rollups in dependency order (sources first), stable otherwise; cycles are refused
        by load_spec before this is called."""
        done: list[Rollup] = []
        names = {rollup.name for rollup in self.rollups}
        while len(done) < len(self.rollups):
            ready = [
                r
                for r in self.rollups
                if r not in done and (r.source not in names or r.source in {d.name for d in done})
            ]
            done.extend(ready)
        return done


class SpecFileError(Exception):
    """Every fault of a spec file; str() lists one per line."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        heading = f"Invalid time-series spec: {count} error{'s' * (count != 1)}"
        super().__init__("\n".join([heading, *(f"  {error}" for error in self.errors)]))


@dataclass(frozen=True)
class LoadedSpec:
    spec: TimeseriesSpec
    path: Path  # the spec file
    root: Path  # the project: file names in messages are relative to it

    def file(self, relative: str) -> Path:
        """A file the spec names: relative to the spec file, wherever it was copied."""
        return self.path.parent / relative

    def label(self, path: Path) -> str:
        """How messages name a file: relative to the project when it is inside."""
        return _label(path, self.root)


def load_spec(path: Path, root: Path) -> LoadedSpec:
    """Read and validate a spec file; raises SpecFileError naming every fault."""
    label = _label(path, root)
    raw = _read_yaml(path, root, label)
    if raw is not None and not isinstance(raw, Mapping):
        got = render(raw)
        raise SpecFileError([FieldError(label, "(file)", got, f"a mapping with {_TOP_KEYS}")])
    try:
        spec = TimeseriesSpec.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        schema = TimeseriesSpec.model_json_schema(by_alias=True)
        errors = from_validation_error(exc, label, "", schema, raw)
        raise SpecFileError([_strip_dot(e) for e in errors]) from None
    problems = [FieldError(label, *p) for p in cross_check(spec, path.parent)]
    problems += [FieldError(label, *p) for p in ingest_problems(spec, path.parent)]
    if problems:
        raise SpecFileError(problems)
    return LoadedSpec(spec, path, root)


_TOP_KEYS = "the keys hypertables and rollups"


def _read_yaml(path: Path, root: Path, label: str) -> object:
    """The parsed document; every way the file cannot be read is one SpecFileError line."""

    def fault(got: str, expected: str) -> SpecFileError:
        return SpecFileError([FieldError(label, "(file)", got, expected)])

    wanted = f"a YAML time-series spec file with {_TOP_KEYS}, like sql/timeseries.yml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fault("no such file", f"{wanted}; relative paths start at {root}") from None
    except IsADirectoryError:
        raise fault("a directory", wanted) from None
    except UnicodeDecodeError as exc:
        raise fault(f"not UTF-8 text ({exc.reason} at byte {exc.start})", wanted) from None
    except OSError as exc:
        raise fault(exc.strerror or type(exc).__name__, f"{wanted}, readable here") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise fault(_yaml_problem(exc), "valid YAML") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where and what, without PyYAML's multi-line excerpt of the file."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return "invalid YAML: " + " ".join(str(exc).split())


def _label(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _strip_dot(error: FieldError) -> FieldError:
    return FieldError(error.host, error.field.removeprefix("."), error.got, error.expected)


def cross_check(spec: TimeseriesSpec, base: Path) -> Iterator[tuple[str, str, str]]:
    """(key path, got, expected) for rules between fields, tables and files; `base`: the
    spec file's folder, which its file names are relative to."""
    tables = [h.table for h in spec.hypertables]
    rollups = {r.name: r for r in spec.rollups}
    yield from _duplicates("hypertables", tables, "table")
    yield from _duplicates("rollups", [r.name for r in spec.rollups], "rollup")
    for name in set(tables) & set(rollups):
        yield f"rollups[{name}].name", repr(name), "a name no hypertable has"
    for table in spec.hypertables:
        index_names = [spec.index_name(table, index) for index in table.indexes]
        yield from _duplicates(f"hypertables[{table.table}].indexes", index_names, "index name")
        for index in table.indexes:
            calls = list(dict.fromkeys(non_immutable_calls(index.where or "")))
            if calls:
                yield (
                    f"hypertables[{table.table}].indexes[{spec.index_name(table, index)}].where",
                    repr(index.where),
                    ADVICE.format(call=", ".join(calls), why=why(calls[0])),
                )
        if table.compression and table.time_column in table.compression.segment_by:
            yield (
                f"hypertables[{table.table}].compression.segment_by",
                repr(table.time_column),
                "columns other than the time column (order_by holds time)",
            )
    buckets: dict[str, int] = {r.name: interval_seconds(r.bucket) for r in spec.rollups}
    for rollup in spec.rollups:
        path = f"rollups[{rollup.name}]"
        if rollup.source not in tables and rollup.source not in rollups:
            yield (
                f"{path}.source",
                repr(rollup.source),
                f"a hypertable or rollup of this spec: {', '.join([*tables, *rollups]) or '-'}",
            )
        elif rollup.source in buckets and buckets[rollup.name] % buckets[rollup.source]:
            source = rollups[rollup.source]
            yield (
                f"{path}.bucket",
                repr(rollup.bucket),
                f"a multiple of its source's bucket ({source.name}: {source.bucket}), so "
                "each bucket re-aggregates whole source buckets",
            )
        window = interval_seconds(rollup.refresh.start_offset) - interval_seconds(
            rollup.refresh.end_offset
        )
        if window < 2 * buckets[rollup.name]:
            yield (
                f"{path}.refresh.start_offset",
                repr(rollup.refresh.start_offset),
                f"at least end_offset + 2 x bucket ({rollup.bucket}): a window must hold a "
                "whole bucket wherever now falls (TimescaleDB refuses smaller ones too)",
            )
        yield from _query_file(f"{path}.query", rollup.query, base)
    yield from _cycles(rollups)


def ingest_problems(spec: TimeseriesSpec, spec_dir: Path) -> Iterator[tuple[str, str, str]]:
    """An ingest block's table, columns and conflict key, against the CREATE TABLE
    statements of 10-schema: a writer must never find out at run time."""
    if not spec.ingested:
        return
    try:
        shapes = schema_shapes(spec_dir)
    except DdlError as error:
        yield "hypertables[].ingest", f"10-schema/{error}", "SQL PostgreSQL's parser accepts"
        return
    topics = Counter(table.ingest.topic for table in spec.ingested if table.ingest)
    for table in spec.ingested:
        assert table.ingest is not None
        path = f"hypertables[{table.table}].ingest"
        if topics[table.ingest.topic] > 1:
            yield f"{path}.topic", repr(table.ingest.topic), "a topic no other table reads"
        shape = shapes.get(table.table)
        if shape is None:
            yield path, repr(table.table), "a table created by a CREATE TABLE in 10-schema/"
            continue
        policy = table.ingest.on_conflict
        if not shape.unique_keys:
            yield (
                f"{path}.on_conflict",
                f"{table.table} without a primary key or unique constraint",
                "a table with a unique key on what identifies a message (e.g. device, time): "
                "redelivered messages (at-least-once) are written once only through it",
            )
        elif isinstance(policy, OnConflictUpdate):
            if not shape.primary_key:
                yield (
                    f"{path}.on_conflict.update",
                    f"{table.table} without a primary key",
                    "a primary key: an update overwrites the row of the message's key",
                )
            for column in policy.update:
                if column not in shape.columns or shape.columns[column]:
                    yield (
                        f"{path}.on_conflict.update",
                        repr(column),
                        f"a column of {table.table} that is not generated: "
                        f"{', '.join(shape.insertable)}",
                    )
                elif column in shape.primary_key:
                    yield (
                        f"{path}.on_conflict.update",
                        repr(column),
                        f"a column outside the key ({', '.join(shape.primary_key)})",
                    )


def _query_file(key: str, query: str, base: Path) -> Iterator[tuple[str, str, str]]:
    file = base / query
    folder = file.resolve().parent
    if not file.is_file():
        yield key, repr(query), f"an existing file, relative to the spec file's folder {base}"
    elif folder.parent == base.resolve() and folder.name in PHASES:
        # Every *.sql there runs as a unit of its own: the template would run as one too.
        yield (
            key,
            repr(query),
            f"a file outside the phase folders beside the spec ({folder.name}/ runs each "
            f"*.sql in it as a schema unit): move it, e.g. to rollups/{file.name}, and name "
            "that path here",
        )
    elif not _is_utf8(file):
        yield key, repr(query), "a UTF-8 text file holding one SELECT"


def _is_utf8(path: Path) -> bool:
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _duplicates(path: str, names: list[str], what: str) -> Iterator[tuple[str, str, str]]:
    for name, count in Counter(names).items():
        if count > 1:
            yield f"{path}[{name}]", repr(name), f"each {what} declared once (found {count})"


def _cycles(rollups: Mapping[str, Rollup]) -> Iterator[tuple[str, str, str]]:
    for name in rollups:
        seen, current = [name], rollups[name].source
        while current in rollups and current not in seen:
            seen.append(current)
            current = rollups[current].source
        if current == name:
            chain = " -> ".join([*seen, name])
            yield f"rollups[{name}].source", chain, "rollups that do not read from themselves"
