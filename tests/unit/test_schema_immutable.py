"""Index predicates that call functions PostgreSQL refuses in an index: found without a
database, refused by the spec validator with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roles.schema.immutable import non_immutable_calls
from roles.schema.model import SpecFileError, load_spec


@pytest.mark.parametrize(
    ("expression", "calls"),
    [
        ("ts > now() - interval '24 hours'", ["now()"]),  # seed 002's "realtime" index
        ("ts > CURRENT_TIMESTAMP - INTERVAL '1 day'", ["current_timestamp"]),
        ("day >= current_date AND ts < localtimestamp", ["current_date", "localtimestamp"]),
        ("ts > pg_catalog.clock_timestamp()", ["clock_timestamp()"]),
        ("age(ts) < interval '7 days'", ["age(…)"]),
        ("age('2026-01-01') > interval '1 day'", ["age(…)"]),
        ("id > nextval('s')", ["nextval(…)"]),
        ("sample < random()", ["random()"]),
        ("day = to_date(label, 'YYYY-MM-DD')", ["to_date(…)"]),
    ],
)
def test_calls_that_change_between_rows_are_found(expression: str, calls: list[str]) -> None:
    assert list(non_immutable_calls(expression)) == calls


@pytest.mark.parametrize(
    "expression",
    [
        "gps_status = 'A'",
        "ts > '2026-01-01'",
        "note <> 'now() and current_date'",  # in a string literal
        'ts > "now"()',  # a quoted identifier: some user function, not pg_catalog.now
        "ts > $$now()$$::timestamptz",
        "age(ended, started) > interval '1 hour'",  # two arguments: no today in it
        "ts > to_timestamp(1767225600)",  # from epoch seconds: immutable
        "speed > 0 -- not now()",
        "current_timestamp_copy > 0 AND now_seen",  # names that only start like them
    ],
)
def test_immutable_predicates_pass(expression: str) -> None:
    assert list(non_immutable_calls(expression)) == []


def test_the_validator_refuses_a_realtime_index_naming_the_call_and_the_fix(
    tmp_path: Path,
) -> None:
    hypertable = {
        "table": "factory_telemetry.metric_hist",
        "time_column": "ts",
        "chunk_interval": "1 hour",
        "indexes": [
            {"name": "idx_metric_hist_realtime", "columns": ["metric_def_id", "ts DESC"],
             "where": "ts > NOW() - INTERVAL '24 hours'"},
            {"columns": ["ts"], "where": "ts > '2026-01-01'"},
        ],
    }  # fmt: skip
    spec = tmp_path / "timeseries.yml"
    spec.write_text(yaml.safe_dump({"hypertables": [hypertable]}))
    with pytest.raises(SpecFileError) as caught:
        load_spec(spec, tmp_path)
    (error,) = caught.value.errors
    assert (
        error.field
        == "hypertables[factory_telemetry.metric_hist].indexes[idx_metric_hist_realtime].where"
    )
    assert str(error).startswith(
        "timeseries.yml: hypertables[factory_telemetry.metric_hist].indexes"
        "[idx_metric_hist_realtime].where: got \"ts > NOW() - INTERVAL '24 hours'\"; expected "
        "an IMMUTABLE predicate: PostgreSQL refuses now() in an index (its value moves with "
        "the clock). Use a fixed bound"
    )
