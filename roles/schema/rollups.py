"""Rollups: the continuous aggregate and its refresh policy (timescale edition), or a plain
table of the same name and its row in timestack.rollup_jobs (apache edition), so
applications query the same names on both. Pure (no pyinfra import)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from jinja2 import Environment, StrictUndefined, TemplateError

from roles.schema.jobs import alter_or_add, job_source
from roles.schema.model import LoadedSpec, Rollup, SpecFileError, interval_seconds
from roles.schema.sqltext import (
    interval_literal,
    quote_literal,
    split_name,
    split_statements,
    strip_comments,
)
from roles.schema.units import Edition, Probe, Unit
from roles.spec.errors import FieldError


def rollup_query(loaded: LoadedSpec, rollup: Rollup) -> str:
    """The rollup's SELECT: its file rendered as a Jinja2 template with the rollup's name,
    source, bucket and bucket_column, so one file can serve every level of a hierarchy."""
    template = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    file = loaded.file(rollup.query)
    try:
        text = template.from_string(file.read_text()).render(
            name=rollup.name,
            source=rollup.source,
            bucket=rollup.bucket,
            bucket_column=rollup.bucket_column,
        )
    except TemplateError as exc:
        fault = FieldError(loaded.label(file), "(template)", str(exc), _ONE_SELECT)
        raise SpecFileError([fault]) from None
    statements = split_statements(text)
    head = strip_comments(statements[0]).lower() if len(statements) == 1 else ""
    if not head.startswith(("select", "with", "(")):
        got = f"{len(statements)} statement(s)" if len(statements) != 1 else repr(head[:30])
        raise SpecFileError([FieldError(loaded.label(file), "(file)", got, _ONE_SELECT)])
    return statements[0]


_ONE_SELECT = "exactly one SELECT (a Jinja2 template using name, source, bucket, bucket_column)"


def rollup_units(
    rollup: Rollup, query: str, position: int, source: str, edition: Edition
) -> Iterator[Unit]:
    name = split_name(rollup.name)[1]
    rel = quote_literal(rollup.name)
    refresh = rollup.refresh
    creation_source = f"{rollup.query} (rollup {rollup.name} of {source})"
    if edition == "timescale":
        yield Unit(
            phase="60-rollups",
            name=rollup.name,
            source=creation_source,
            statements=(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {rollup.name} WITH "
                "(timescaledb.continuous, timescaledb.materialized_only = TRUE) AS\n"
                f"{query}\nWITH NO DATA",
            ),
            kind="schema",
            transactional=False,
            licensed=True,
        )
        yield _history(rollup, creation_source, edition, query)
        job = job_source("policy_refresh_continuous_aggregate", rollup.name, rollup=True)
        offsets = {"start_offset": refresh.start_offset, "end_offset": refresh.end_offset}
        yield Unit(
            phase="60-rollups",
            name=f"{rollup.name}.refresh",
            source=f"{source}[{rollup.name}].refresh",
            statements=alter_or_add(
                job,
                offsets,
                f"SELECT add_continuous_aggregate_policy({rel}, "
                f"start_offset => {interval_literal(refresh.start_offset)}, "
                f"end_offset => {interval_literal(refresh.end_offset)}, "
                f"schedule_interval => {interval_literal(refresh.every)}, "
                "if_not_exists => TRUE)",
                schedule_interval=refresh.every,
            ),
            kind="policy",
            licensed=True,
            probe=Probe(
                "SELECT concat_ws(' | ', "
                "extract(epoch FROM (j.config->>'start_offset')::interval)::bigint, "
                "extract(epoch FROM (j.config->>'end_offset')::interval)::bigint, "
                f"extract(epoch FROM j.schedule_interval)::bigint) {job}",
                " | ".join(
                    str(interval_seconds(v))
                    for v in (refresh.start_offset, refresh.end_offset, refresh.every)
                ),
            ),
        )
        return
    # Apache: a plain table of the same name, kept by timestack.refresh_rollups().
    yield Unit(
        phase="60-rollups",
        name=rollup.name,
        source=creation_source,
        statements=(
            f"CREATE TABLE IF NOT EXISTS {rollup.name} AS\n{query}\nWITH NO DATA",
            f"CREATE INDEX IF NOT EXISTS {name}_{rollup.bucket_column}_idx "
            f"ON {rollup.name} ({rollup.bucket_column})",
        ),
        kind="schema",
    )
    yield _history(rollup, creation_source, edition, query)
    fields = {
        "source": quote_literal(rollup.source),
        "bucket": interval_literal(rollup.bucket),
        "bucket_column": quote_literal(rollup.bucket_column),
        "start_offset": interval_literal(refresh.start_offset),
        "end_offset": interval_literal(refresh.end_offset),
        "every": interval_literal(refresh.every),
        "position": str(position),
        "query": quote_literal(query),
    }
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in fields)
    seconds = [
        interval_seconds(v)
        for v in (rollup.bucket, refresh.start_offset, refresh.end_offset, refresh.every)
    ]
    yield Unit(
        phase="60-rollups",
        name=f"{rollup.name}.refresh",
        source=f"{source}[{rollup.name}].refresh",
        statements=(
            f"INSERT INTO timestack.rollup_jobs (name, {', '.join(fields)}) "
            f"VALUES ({rel}, {', '.join(fields.values())}) "
            f"ON CONFLICT (name) DO UPDATE SET {updates}",
        ),
        kind="policy",
        probe=Probe(
            "SELECT concat_ws(' | ', source, extract(epoch FROM bucket)::bigint, bucket_column, "
            "extract(epoch FROM start_offset)::bigint, extract(epoch FROM end_offset)::bigint, "
            "extract(epoch FROM every)::bigint, position, md5(query)) "
            f"FROM timestack.rollup_jobs WHERE name = {rel}",
            " | ".join(
                [rollup.source, str(seconds[0]), rollup.bucket_column]
                + [str(s) for s in seconds[1:]]
                + [str(position), _md5(query)]
            ),
        ),
    )


def _history(rollup: Rollup, source: str, edition: Edition, query: str) -> Unit:
    """Once, right after the rollup is created: every bucket before the refresh window's end
    (now - end_offset, floored to the bucket), so the rollup holds the history from before
    its creation; the refresh keeps the window from then on. Units run in dependency order,
    so each level reads a source that already holds its history."""
    refresh, rel = rollup.refresh, quote_literal(rollup.name)
    bucket, end_offset = interval_literal(rollup.bucket), interval_literal(refresh.end_offset)
    end = f"time_bucket({bucket}, now() - {end_offset})"
    statements: tuple[str, ...]
    if edition == "timescale":
        # A refresh cannot run in a transaction block; it is safe to repeat.
        statements = (f"CALL refresh_continuous_aggregate({rel}, NULL, {end})",)
    else:
        # Only buckets before the oldest one the table has: rows a refresh already wrote,
        # or whose source rows retention has since dropped, stay as they are.
        column = rollup.bucket_column
        oldest = f"coalesce((SELECT min({column}) FROM {rollup.name}), {end})"
        statements = (
            f"INSERT INTO {rollup.name} SELECT * FROM ({query}) AS q "
            f"WHERE q.{column} < least({oldest}, {end})",
        )
    return Unit(
        phase="60-rollups",
        name=f"{rollup.name}.history",
        source=source,
        statements=statements,
        kind="schema",
        transactional=edition == "apache",
        licensed=edition == "timescale",
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
