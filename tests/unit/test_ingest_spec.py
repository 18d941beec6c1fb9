"""The time-series spec's ingest: blocks, checked against the CREATE TABLE statements of
10-schema before any host is touched."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from roles.schema.model import Batch, LoadedSpec, OnConflictUpdate, SpecFileError, load_spec

ROOT = Path(__file__).resolve().parents[2]
VEHICLE = "telemetry.vehicle_telemetry"
FACTORY = "factory_telemetry.metric_hist"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's sql/ directory (the spec, 10-schema, the rollup queries)."""
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    return tmp_path


def hypertable(spec: dict[str, Any], table: str) -> dict[str, Any]:
    found: dict[str, Any] = next(h for h in spec["hypertables"] if h["table"] == table)
    return found


def edited(project: Path, edit: Edit) -> Path:
    path = project / "sql" / "timeseries.yml"
    spec = yaml.safe_load(path.read_text())
    edit(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def load(project: Path, edit: Edit = lambda spec: None) -> LoadedSpec:
    return load_spec(edited(project, edit), project)


def errors(project: Path, edit: Edit) -> list[str]:
    with pytest.raises(SpecFileError) as caught:
        load(project, edit)
    return [str(error) for error in caught.value.errors]


def schema_file(project: Path, name: str, sql: str) -> None:
    (project / "sql" / "10-schema" / name).write_text(sql)


def ingest(table: str, **block: Any) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        hypertable(spec, table)["ingest"] = block

    return edit


def add_table(table: str, **block: Any) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        spec["hypertables"].append(
            {"table": table, "time_column": "time", "chunk_interval": "1 day", "ingest": block}
        )

    return edit


# ---------------------------------------------------------------------------------------
# The shipped spec and the defaults


def test_the_shipped_spec_feeds_both_hypertables_from_their_topics() -> None:
    spec = load_spec(ROOT / "sql/timeseries.yml", ROOT).spec
    topics = {table.table: table.ingest.topic for table in spec.ingested if table.ingest}
    assert topics == {VEHICLE: "vehicle-telemetry", FACTORY: "factory-metrics"}


def test_the_shipped_factory_metrics_overwrite_the_value_columns() -> None:
    spec = load_spec(ROOT / "sql/timeseries.yml", ROOT).spec
    factory = next(t for t in spec.hypertables if t.table == FACTORY)
    assert factory.ingest is not None
    assert factory.ingest.on_conflict == OnConflictUpdate(
        update=["value_bool", "value_int", "value_real"]
    )


def test_an_ingest_block_with_only_a_topic_keeps_the_first_row_in_batches_of_5000(
    project: Path,
) -> None:
    loaded = load(project, ingest(VEHICLE, topic="vehicle-telemetry"))
    block = next(t for t in loaded.spec.hypertables if t.table == VEHICLE).ingest
    assert block is not None
    assert block.on_conflict == "nothing"
    assert (block.batch.rows, block.batch.wait, block.batch.wait_ms) == (5000, "200ms", 200)


def test_the_writers_role_and_rejects_table_have_defaults(project: Path) -> None:
    loaded = load(project, lambda spec: spec.pop("ingest"))
    assert loaded.spec.ingest.role == "timestack_ingest"
    assert loaded.spec.ingest.rejects == "timestack.ingest_rejects"


def test_a_table_without_an_ingest_block_is_not_ingested(project: Path) -> None:
    loaded = load(project, lambda spec: hypertable(spec, VEHICLE).pop("ingest"))
    assert [t.table for t in loaded.spec.ingested] == [FACTORY]


# ---------------------------------------------------------------------------------------
# Batch size and wait


@pytest.mark.parametrize(
    ("wait", "ms"), [("200ms", 200), ("1s", 1000), ("60s", 60_000), ("60000ms", 60_000)]
)
def test_batch_wait_in_milliseconds_or_seconds(wait: str, ms: int) -> None:
    assert Batch(wait=wait).wait_ms == ms


@pytest.mark.parametrize("wait", ["0ms", "0s", "2min", "61s", "60001ms", "1.5s", "soon", ""])
def test_a_batch_wait_outside_1ms_to_60s_is_refused(project: Path, wait: str) -> None:
    edit = ingest(VEHICLE, topic="vehicle-telemetry", batch={"wait": wait})
    assert errors(project, edit) == [
        f"sql/timeseries.yml: hypertables[0].ingest.batch.wait: got {wait!r}; expected a wait "
        "like '200ms' or '1s' (at most 60s)"
    ]


@pytest.mark.parametrize("rows", [0, 100_001])
def test_batch_rows_outside_1_to_100000_are_refused(project: Path, rows: int) -> None:
    (error,) = errors(project, ingest(VEHICLE, topic="vehicle-telemetry", batch={"rows": rows}))
    assert error.startswith(f"sql/timeseries.yml: hypertables[0].ingest.batch.rows: got {rows}")


# ---------------------------------------------------------------------------------------
# Keys of the block


def test_an_unknown_key_in_an_ingest_block_is_refused(project: Path) -> None:
    (error,) = errors(project, ingest(VEHICLE, topic="vehicle-telemetry", topics=["x"]))
    assert error.startswith("sql/timeseries.yml: hypertables[0].ingest.topics: got ")


def test_a_topic_name_kafka_would_refuse_is_refused(project: Path) -> None:
    (error,) = errors(project, ingest(VEHICLE, topic="vehicle telemetry!"))
    assert error == (
        "sql/timeseries.yml: hypertables[0].ingest.topic: got 'vehicle telemetry!'; "
        "expected a Kafka topic name"
    )


def test_an_update_of_no_columns_is_refused(project: Path) -> None:
    edit = ingest(FACTORY, topic="factory-metrics", on_conflict={"update": []})
    assert (
        "sql/timeseries.yml: hypertables[1].ingest.on_conflict.update: got []; expected at "
        "least 1 item(s)"
    ) in errors(project, edit)


def test_a_misspelt_update_key_names_the_key_it_should_be(project: Path) -> None:
    """Inside the on_conflict union, the unknown-key report names the keys it knows."""
    edit = ingest(FACTORY, topic="factory-metrics", on_conflict={"updat": ["value_int"]})
    (misspelt,) = [e for e in errors(project, edit) if ".on_conflict.updat:" in e]
    assert "update" in misspelt.split("; expected ", 1)[1]


# ---------------------------------------------------------------------------------------
# The conflict policy against the table's DDL


def test_updating_a_column_the_table_lacks_is_refused_naming_it(project: Path) -> None:
    edit = ingest(FACTORY, topic="factory-metrics", on_conflict={"update": ["value_text"]})
    assert errors(project, edit) == [
        f"sql/timeseries.yml: hypertables[{FACTORY}].ingest.on_conflict.update: got "
        f"'value_text'; expected a column of {FACTORY} that is not generated: metric_def_id, "
        "ts, value_bool, value_int, value_real"
    ]


def test_updating_a_generated_column_is_refused_naming_it(project: Path) -> None:
    edit = ingest(VEHICLE, topic="vehicle-telemetry", on_conflict={"update": ["speed", "geom"]})
    (error,) = errors(project, edit)
    assert error.startswith(
        f"sql/timeseries.yml: hypertables[{VEHICLE}].ingest.on_conflict.update: got 'geom'; "
        f"expected a column of {VEHICLE} that is not generated: license_plate, time, longitude"
    )
    assert ", geom" not in error.split("expected", 1)[1]


def test_updating_a_key_column_is_refused_naming_it(project: Path) -> None:
    edit = ingest(FACTORY, topic="factory-metrics", on_conflict={"update": ["value_int", "ts"]})
    assert errors(project, edit) == [
        f"sql/timeseries.yml: hypertables[{FACTORY}].ingest.on_conflict.update: got 'ts'; "
        "expected a column outside the key (metric_def_id, ts)"
    ]


def test_updating_ordinary_columns_is_accepted(project: Path) -> None:
    edit = ingest(VEHICLE, topic="vehicle-telemetry", on_conflict={"update": ["speed", "raw_data"]})
    block = next(t for t in load(project, edit).spec.hypertables if t.table == VEHICLE).ingest
    assert block is not None
    assert block.on_conflict == OnConflictUpdate(update=["speed", "raw_data"])


def test_a_table_without_any_unique_key_is_refused(project: Path) -> None:
    schema_file(
        project, "040_events.sql", "CREATE TABLE telemetry.events (time timestamptz, note text);"
    )
    assert errors(project, add_table("telemetry.events", topic="events")) == [
        "sql/timeseries.yml: hypertables[telemetry.events].ingest.on_conflict: got "
        "telemetry.events without a primary key or unique constraint; expected a table with a "
        "unique key on what identifies a message (e.g. device, time): redelivered messages "
        "(at-least-once) are written once only through it"
    ]


@pytest.mark.parametrize(
    "files",
    [
        # a UNIQUE constraint is key enough to keep the first row
        {"040_events.sql": "CREATE TABLE telemetry.events (id bigint, time timestamptz, "
         "UNIQUE (id, time));"},
        # a unique index in a later 10-schema file than the table's gives it its key
        {"040_events.sql": "CREATE TABLE telemetry.events (id bigint, time timestamptz);",
         "050_events_key.sql": "CREATE UNIQUE INDEX events_key ON telemetry.events (id, time);"},
    ],
    ids=["unique-constraint", "unique-index-in-a-later-file"],
)  # fmt: skip
def test_a_unique_key_other_than_the_primary_key_serves_do_nothing(
    project: Path, files: dict[str, str]
) -> None:
    for name, text in files.items():
        schema_file(project, name, text)
    loaded = load(project, add_table("telemetry.events", topic="events"))
    assert "telemetry.events" in [t.table for t in loaded.spec.ingested]


def test_an_update_needs_a_primary_key_not_only_a_unique_constraint(project: Path) -> None:
    schema_file(
        project,
        "040_events.sql",
        "CREATE TABLE telemetry.events (id bigint, time timestamptz, v int, UNIQUE (id, time));",
    )
    edit = add_table("telemetry.events", topic="events", on_conflict={"update": ["v"]})
    assert errors(project, edit) == [
        "sql/timeseries.yml: hypertables[telemetry.events].ingest.on_conflict.update: got "
        "telemetry.events without a primary key; expected a primary key: an update overwrites "
        "the row of the message's key"
    ]


def test_two_tables_reading_one_topic_are_refused(project: Path) -> None:
    edit = ingest(FACTORY, topic="vehicle-telemetry")
    assert errors(project, edit) == [
        f"sql/timeseries.yml: hypertables[{table}].ingest.topic: got 'vehicle-telemetry'; "
        "expected a topic no other table reads"
        for table in (VEHICLE, FACTORY)
    ]


def test_a_table_not_created_in_10_schema_is_refused(project: Path) -> None:
    assert errors(project, add_table("telemetry.elsewhere", topic="elsewhere")) == [
        "sql/timeseries.yml: hypertables[telemetry.elsewhere].ingest: got "
        "'telemetry.elsewhere'; expected a table created by a CREATE TABLE in 10-schema/"
    ]


def test_a_10_schema_file_that_is_not_sql_is_one_clean_error(project: Path) -> None:
    schema_file(project, "040_broken.sql", "CREATE TABLE telemetry.broken (id int,,);\n")
    (error,) = errors(project, lambda spec: None)
    assert error.startswith(
        "sql/timeseries.yml: hypertables[].ingest: got 10-schema/040_broken.sql: not valid SQL ("
    )
    assert error.endswith("; expected SQL PostgreSQL's parser accepts")
    assert "\n" not in error
