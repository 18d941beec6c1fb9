"""The time-series spec: validation errors name the file, the key path and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from roles.schema.model import SpecFileError, interval_seconds, load_spec
from roles.schema.render import plan

ROOT = Path(__file__).resolve().parents[2]


def _vehicle(**overrides: Any) -> dict[str, Any]:
    return {
        "table": "telemetry.vehicle_telemetry",
        "time_column": "time",
        "chunk_interval": "1 day",
        **overrides,
    }


def _rollup(name: str, source: str, bucket: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "bucket": bucket,
        "query": "q.sql",
        "refresh": {"start_offset": "3 days", "end_offset": "1 hour", "every": "1 hour"},
        **overrides,
    }


def write_spec(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "q.sql").write_text("SELECT 1 AS bucket")
    path = tmp_path / "timeseries.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def errors(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecFileError) as caught:
        load_spec(write_spec(tmp_path, data), tmp_path)
    return [str(error) for error in caught.value.errors]


def test_the_shipped_spec_loads() -> None:
    loaded = load_spec(ROOT / "sql/timeseries.yml", ROOT)
    assert [h.table for h in loaded.spec.hypertables] == [
        "telemetry.vehicle_telemetry",
        "factory_telemetry.metric_hist",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1 day", 86400), ("7 days", 604800), ("30 minutes", 1800), ("2h", 7200), ("1 week", 604800)],
)
def test_intervals(text: str, seconds: int) -> None:
    assert interval_seconds(text) == seconds


@pytest.mark.parametrize("text", ["a day", "1 month", "0 days", "1.5 hours", ""])
def test_bad_interval_is_named_with_its_key_path(tmp_path: Path, text: str) -> None:
    (error,) = errors(tmp_path, {"hypertables": [_vehicle(chunk_interval=text)]})
    assert error.startswith("timeseries.yml: hypertables[0].chunk_interval: got")
    assert "an interval like '1 day'" in error


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    (error,) = errors(tmp_path, {"hypertables": [_vehicle(chunk_intreval="1 day")]})
    assert "hypertables[0].chunk_intreval" in error
    assert "did you mean 'chunk_interval'?" in error


def test_unknown_source_table_lists_the_known_ones(tmp_path: Path) -> None:
    data = {
        "hypertables": [_vehicle()],
        "rollups": [_rollup("analytics.h", "telemetry.vehicles", "1 hour")],
    }
    (error,) = errors(tmp_path, data)
    assert error == (
        "timeseries.yml: rollups[analytics.h].source: got 'telemetry.vehicles'; expected a "
        "hypertable or rollup of this spec: telemetry.vehicle_telemetry, analytics.h"
    )


def test_hierarchical_bucket_must_be_a_multiple_of_the_source_bucket(tmp_path: Path) -> None:
    data = {
        "hypertables": [_vehicle()],
        "rollups": [
            _rollup("analytics.m", "telemetry.vehicle_telemetry", "1 hour"),
            _rollup("analytics.d", "analytics.m", "90 minutes"),
        ],
    }
    (error,) = errors(tmp_path, data)
    assert "rollups[analytics.d].bucket: got '90 minutes'" in error
    assert "a multiple of its source's bucket (analytics.m: 1 hour)" in error


def test_a_multiple_of_the_source_bucket_passes(tmp_path: Path) -> None:
    data = {
        "hypertables": [_vehicle()],
        "rollups": [
            _rollup("analytics.d", "analytics.m", "1 day"),  # declared before its source
            _rollup("analytics.m", "telemetry.vehicle_telemetry", "1 hour"),
        ],
    }
    loaded = load_spec(write_spec(tmp_path, data), tmp_path)
    assert [r.name for r in loaded.spec.ordered_rollups()] == ["analytics.m", "analytics.d"]


def test_duplicates_and_missing_query_file_are_all_reported(tmp_path: Path) -> None:
    data = {
        "hypertables": [_vehicle(), _vehicle()],
        "rollups": [
            _rollup("analytics.h", "telemetry.vehicle_telemetry", "1 hour", query="no.sql")
        ],
    }
    found = errors(tmp_path, data)
    assert any(
        "hypertables[telemetry.vehicle_telemetry]" in e and "declared once" in e for e in found
    )
    assert any(
        "rollups[analytics.h].query: got 'no.sql'; expected an existing file" in e for e in found
    )


def test_refresh_window_must_hold_two_buckets(tmp_path: Path) -> None:
    refresh = {"start_offset": "90 minutes", "end_offset": "30 minutes", "every": "30 minutes"}
    data = {
        "hypertables": [_vehicle()],
        "rollups": [
            _rollup("analytics.h", "telemetry.vehicle_telemetry", "1 hour", refresh=refresh)
        ],
    }
    (error,) = errors(tmp_path, data)
    assert "rollups[analytics.h].refresh.start_offset" in error
    assert "end_offset + 2 x bucket" in error


def test_cycle_is_refused(tmp_path: Path) -> None:
    data = {
        "hypertables": [_vehicle()],
        "rollups": [
            _rollup("analytics.a", "analytics.b", "1 hour"),
            _rollup("analytics.b", "analytics.a", "1 hour"),
        ],
    }
    found = errors(tmp_path, data)
    assert any("analytics.a -> analytics.b -> analytics.a" in e for e in found)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecFileError, match="no such file"):
        load_spec(tmp_path / "nope.yml", tmp_path)


def test_inventory_validation_reports_a_bad_time_series_spec(tmp_path: Path) -> None:
    """deploy.py validates every host first: a bad spec file fails before any host changes."""
    from roles.hostdata import validate
    from roles.spec import HostInput, SpecError

    bad = ROOT / "sql" / "_unit_test_bad_spec.yml"
    bad.write_text(
        "hypertables: [{table: telemetry.x, time_column: time, chunk_interval: 1 month}]\n"
    )
    data = {
        "postgres": {
            "roles": [{"name": "owner", "login": False}],
            "databases": [{"name": "telemetry", "owner": "owner"}],
        },
        "schema": {"spec": "sql/_unit_test_bad_spec.yml"},
        "backup": {"repo_type": "posix_local"},
    }
    try:
        with pytest.raises(SpecError) as caught:
            validate([HostInput("db1", frozenset({"timescaledb"}), data)])
    finally:
        bad.unlink()
    assert (
        "db1: schema.spec: got sql/_unit_test_bad_spec.yml: hypertables[0].chunk_interval: "
        "'1 month'; expected an interval like '1 day'" in str(caught.value)
    )


def file_error(path: Path, root: Path) -> str:
    with pytest.raises(SpecFileError) as caught:
        load_spec(path, root)
    (error,) = caught.value.errors
    assert "\n" not in str(error), "one report line per fault"
    return str(error)


def test_missing_spec_file_says_where_it_was_looked_for(tmp_path: Path) -> None:
    assert file_error(tmp_path / "nope.yml", tmp_path) == (
        "nope.yml: (file): got no such file; expected a YAML time-series spec file with the "
        f"keys hypertables and rollups, like sql/timeseries.yml; relative paths start at {tmp_path}"
    )


def test_spec_path_naming_a_directory_is_a_fault_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    assert file_error(tmp_path / "sql", tmp_path).startswith(
        "sql: (file): got a directory; expected a YAML time-series spec file"
    )


def test_spec_that_is_not_utf8_is_a_fault_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "spec.yml").write_bytes(b"hypertables: []\n\xff\xfe")
    assert file_error(tmp_path / "spec.yml", tmp_path).startswith(
        "spec.yml: (file): got not UTF-8 text (invalid start byte at byte 16)"
    )


def test_invalid_yaml_is_one_line_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "spec.yml").write_text("hypertables: []\nrollups: [\n")
    error = file_error(tmp_path / "spec.yml", tmp_path)
    assert error.startswith("spec.yml: (file): got invalid YAML at line 3, column 1: ")
    assert error.endswith("; expected valid YAML")


@pytest.mark.parametrize("document", ["- hypertables\n", "just text\n", "42\n"])
def test_a_document_that_is_not_a_mapping_names_the_file(tmp_path: Path, document: str) -> None:
    (tmp_path / "spec.yml").write_text(document)
    error = file_error(tmp_path / "spec.yml", tmp_path)
    assert error.startswith("spec.yml: (file): got ")
    assert error.endswith("; expected a mapping with the keys hypertables and rollups")


def test_an_interval_given_as_a_number_gets_the_interval_phrase(tmp_path: Path) -> None:
    (error,) = errors(tmp_path, {"hypertables": [_vehicle(chunk_interval=5)]})
    assert error == (
        "timeseries.yml: hypertables[0].chunk_interval: got 5; expected an interval like "
        "'1 day', '30 minutes' or '90 days' (second ... week)"
    )


def test_rollup_query_that_is_not_utf8_is_a_fault(tmp_path: Path) -> None:
    data = {
        "hypertables": [_vehicle()],
        "rollups": [_rollup("analytics.h", "telemetry.vehicle_telemetry", "1 hour")],
    }
    spec = write_spec(tmp_path, data)
    (tmp_path / "q.sql").write_bytes(b"SELECT \xff")
    with pytest.raises(SpecFileError) as caught:
        load_spec(spec, tmp_path)
    assert [str(e) for e in caught.value.errors] == [
        "timeseries.yml: rollups[analytics.h].query: got 'q.sql'; expected a UTF-8 text file "
        "holding one SELECT"
    ]


def test_inventory_validation_reports_a_phase_file_that_is_not_utf8(tmp_path: Path) -> None:
    """A bad byte in a file under the spec's phase directories is a report line, not a crash."""
    from roles.hostdata import validate
    from roles.spec import HostInput, SpecError

    (tmp_path / "10-schema").mkdir()
    (tmp_path / "10-schema" / "010_bad.sql").write_bytes(b"CREATE TABLE t (\xff int);")
    spec = tmp_path / "timeseries.yml"
    spec.write_text("hypertables: []\n")
    data = {
        "postgres": {
            "roles": [{"name": "owner", "login": False}],
            "databases": [{"name": "telemetry", "owner": "owner"}],
        },
        "schema": {"spec": str(spec)},
        "backup": {"repo_type": "posix_local"},
    }
    with pytest.raises(SpecError) as caught:
        validate([HostInput("db1", frozenset({"timescaledb"}), data)])
    (error,) = caught.value.errors
    assert str(error) == (
        f"db1: schema.spec: got {tmp_path}/10-schema/010_bad.sql: (file): not UTF-8 text "
        "(invalid start byte at byte 16); expected UTF-8 text in every SQL file of the "
        "time-series schema"
    )


def test_a_copied_spec_reads_its_files_beside_the_copy(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    shipped = plan(load_spec(ROOT / "sql/timeseries.yml", ROOT), "apache")
    copy = tmp_path / "sql" / "timeseries.yml"
    assert [(u.key, u.checksum) for u in plan(load_spec(copy, ROOT), "apache")] == [
        (u.key, u.checksum) for u in shipped
    ]
    query = tmp_path / "sql" / "rollups" / "vehicle_hourly.sql"
    query.write_text(query.read_text().replace("count(*) AS samples", "count(*) AS fixes"))
    (changed,) = [
        u
        for u in plan(load_spec(copy, ROOT), "apache")
        if u.key == "60-rollups/analytics.vehicle_hourly"
    ]
    assert "AS fixes" in " ".join(changed.statements)


def test_a_rollup_query_in_a_phase_folder_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    spec = tmp_path / "sql" / "timeseries.yml"
    shutil.move(tmp_path / "sql" / "rollups", tmp_path / "sql" / "60-rollups")
    spec.write_text(spec.read_text().replace("query: rollups/", "query: 60-rollups/"))
    with pytest.raises(SpecFileError) as caught:
        load_spec(spec, ROOT)
    found = [str(error) for error in caught.value.errors]
    assert len(found) == 4, found  # each rollup, the shared template twice
    assert found[0].startswith(
        f"{spec}: rollups[analytics.vehicle_hourly].query: got '60-rollups/vehicle_hourly.sql'; "
        "expected a file outside the phase folders beside the spec (60-rollups/ runs each *.sql "
        "in it as a schema unit): move it, e.g. to rollups/vehicle_hourly.sql"
    )
