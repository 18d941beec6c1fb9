"""Rendering the spec into ordered units per edition, the engine's decisions, the CLI."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from roles.schema import engine
from roles.schema.__main__ import main
from roles.schema.model import SpecFileError, load_spec
from roles.schema.render import plan
from roles.schema.sqltext import split_statements
from roles.schema.units import PHASES, Probe, Unit

ROOT = Path(__file__).resolve().parents[2]


def shipped(edition: str) -> list[Unit]:
    return plan(load_spec(ROOT / "sql/timeseries.yml", ROOT), edition)  # type: ignore[arg-type]


def keys(units: list[Unit]) -> list[str]:
    return [u.key for u in units]


def test_phases_are_in_order_and_user_files_lexical_within_a_phase() -> None:
    units = shipped("apache")
    phases = [u.phase for u in units]
    assert phases == sorted(phases, key=PHASES.index)
    user = [u.name for u in units if u.phase == "10-schema" and u.content is not None]
    assert user == sorted(user)
    assert keys(units)[:2] == ["10-schema/timestack-engine", "10-schema/010_schemas.sql"]


def test_rollups_follow_their_sources() -> None:
    for edition in ("timescale", "apache"):
        created = [
            u.name for u in shipped(edition) if u.phase == "60-rollups" and u.kind == "schema"
        ]
        # Each level is created and holds its history before the next level reads it.
        assert created == [
            f"{name}{part}"
            for name in (
                "analytics.vehicle_hourly",
                "factory_telemetry.metric_1min",
                "factory_telemetry.metric_1hour",
                "factory_telemetry.metric_1day",
            )
            for part in ("", ".history")
        ]


def test_checksums_are_stable_and_file_checksums_are_the_files() -> None:
    first, second = shipped("apache"), shipped("apache")
    assert [u.checksum for u in first] == [u.checksum for u in second]
    schemas = next(u for u in first if u.name == "010_schemas.sql")
    text = (ROOT / "sql/10-schema/010_schemas.sql").read_bytes()
    assert schemas.checksum == hashlib.sha256(text).hexdigest()


def test_timescale_edition_uses_the_licensed_api() -> None:
    sql = "\n".join(s for u in shipped("timescale") for s in u.statements)
    for needle in (
        "timescaledb.compress_segmentby = 'license_plate'",
        "add_compression_policy('telemetry.vehicle_telemetry', "
        "compress_after => INTERVAL '1 week', if_not_exists => TRUE)",
        "add_retention_policy('factory_telemetry.metric_hist', drop_after => INTERVAL '90 days', "
        "if_not_exists => TRUE)",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS factory_telemetry.metric_1hour WITH "
        "(timescaledb.continuous",
        "FROM factory_telemetry.metric_1min",  # hierarchical: the hour reads the minutes
        "add_continuous_aggregate_policy('analytics.vehicle_hourly', start_offset => "
        "INTERVAL '3 hours', end_offset => INTERVAL '30 minutes'",
    ):
        assert needle in sql
    # Per-tenant retention: Timestack's job, not the native policy (which knows no tenants).
    assert "add_retention_policy('telemetry.vehicle_telemetry'" not in sql
    assert "add_job('timestack.retention_job', INTERVAL '1 day')" in sql
    assert "CALL refresh_continuous_aggregate('factory_telemetry.metric_1day', NULL, " in sql
    licensed = {u.phase for u in shipped("timescale") if u.licensed}
    assert licensed == {"30-compression", "40-retention", "60-rollups"}


def test_apache_edition_has_no_licensed_statement_and_same_rollup_names() -> None:
    units = shipped("apache")
    sql = "\n".join(s for u in units for s in u.statements)
    assert not any(u.licensed for u in units)
    for banned in (
        "timescaledb.compress",
        "add_",
        "timescaledb.continuous",
        "remove_",
        "alter_job",
    ):
        assert banned not in sql
    assert "CREATE TABLE IF NOT EXISTS analytics.vehicle_hourly AS" in sql
    skipped = [u for u in units if u.status == "skipped"]
    assert keys(skipped) == [
        "30-compression/telemetry.vehicle_telemetry",
        "30-compression/factory_telemetry.metric_hist",
    ]
    assert all(not u.statements and "needs the TimescaleDB licence" in u.note for u in skipped)


def test_edition_specific_user_files() -> None:
    monitoring = {
        e: [u.name for u in shipped(e) if u.phase == "70-monitoring"]
        for e in ("apache", "timescale")
    }
    assert "030_job_health.apache.sql" in monitoring["apache"]
    assert "030_job_health.timescale.sql" not in monitoring["apache"]
    assert "040_hypertable_sizes.timescale.sql" in monitoring["timescale"]
    assert (
        "010_index_usage.sql" in monitoring["apache"]
        and "010_index_usage.sql" in monitoring["timescale"]
    )


def test_slowest_statements_view_on_both_editions(capsys: pytest.CaptureFixture[str]) -> None:
    for edition in ("apache", "timescale"):
        assert main(["plan", "--spec", str(ROOT / "sql/timeseries.yml"), "--edition", edition]) == 0
        text = capsys.readouterr().out
        start = text.index("-- phase 70-monitoring | 060_slowest_statements.sql |")
        unit = text[start : text.index("-- phase 70-monitoring | 090_grants.sql |")]
        assert "CREATE VIEW timestack.slowest_statements AS" in unit
        # PostgreSQL 13+ column names (the seeds' maintenance queries use them too).
        assert "s.total_exec_time" in unit and "total_time)" not in unit
        assert "SET (security_invoker = true)" in unit  # readers see texts by their own rights
        # Granted by itself: on a database where 090_grants.sql ran before this file existed.
        assert unit.rstrip().endswith(
            "GRANT SELECT ON timestack.slowest_statements TO telemetry_ro;"
        )


def test_indexes_are_non_transactional_and_rebuilt_by_name() -> None:
    index = next(
        u for u in shipped("apache") if u.key == "50-indexes/telemetry.vehicle_telemetry_geom_idx"
    )
    assert not index.transactional
    assert index.statements == (
        "DROP INDEX IF EXISTS telemetry.vehicle_telemetry_geom_idx",
        "CREATE INDEX vehicle_telemetry_geom_idx ON telemetry.vehicle_telemetry USING gist (geom) "
        "WITH (timescaledb.transaction_per_chunk) WHERE geom IS NOT NULL",
    )


def test_changing_chunk_interval_changes_exactly_one_unit(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    spec = tmp_path / "sql/timeseries.yml"
    before = plan(load_spec(spec, tmp_path), "apache")
    spec.write_text(spec.read_text().replace("chunk_interval: 1 hour", "chunk_interval: 2 hours"))
    after = plan(load_spec(spec, tmp_path), "apache")
    changed = [a.key for a, b in zip(after, before, strict=True) if a.checksum != b.checksum]
    assert changed == ["20-hypertables/factory_telemetry.metric_hist"]


def test_user_file_with_transaction_control_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    (tmp_path / "sql/10-schema/099_tx.sql").write_text("BEGIN;\nCREATE TABLE a (i int);\nCOMMIT;\n")
    with pytest.raises(SpecFileError, match=r"sql/10-schema/099_tx.sql: statement 1: got 'BEGIN'"):
        plan(load_spec(tmp_path / "sql/timeseries.yml", tmp_path), "apache")


def test_concurrently_needs_the_no_transaction_marker(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    ddl = "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON telemetry.vehicles (tenant_id);\n"
    path = tmp_path / "sql/50-indexes/100_extra.sql"
    path.parent.mkdir(exist_ok=True)
    path.write_text(ddl)
    with pytest.raises(SpecFileError, match="timestack:no-transaction"):
        plan(load_spec(tmp_path / "sql/timeseries.yml", tmp_path), "apache")
    path.write_text("-- timestack:no-transaction\n" + ddl)
    units = plan(load_spec(tmp_path / "sql/timeseries.yml", tmp_path), "apache")
    extra = next(u for u in units if u.key == "50-indexes/100_extra.sql")
    assert not extra.transactional
    # After the spec's own indexes of the phase, before the next phase.
    assert keys(units).index(extra.key) == max(
        i for i, u in enumerate(units) if u.phase == "50-indexes"
    )


def test_split_statements_respects_quotes_comments_and_dollar_quotes() -> None:
    text = (
        "-- a; comment\nSELECT 'a;b', \"c;d\";\n/* x; /* nested; */ y; */\n"
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
        "SELECT E'it\\'s;' ;"
    )
    statements = split_statements(text)
    assert len(statements) == 3
    assert statements[1].startswith("/* x;") and "$body$ SELECT 1; $body$" in statements[1]


def _unit(kind: str = "policy") -> Unit:
    return Unit(
        phase="20-hypertables",
        name="t.x",
        source="spec",
        statements=("SELECT 1",),
        kind=kind,  # type: ignore[arg-type]
        probe=Probe("SELECT 86400", "86400"),
    )


def _live(checksum: str | None, probe: str | None = "86400") -> engine.LiveState:
    ledger = (
        {}
        if checksum is None
        else {"20-hypertables/t.x": engine.LedgerRow(checksum, "applied", "apache")}
    )
    probes = {} if probe is None else {"20-hypertables/t.x": probe}
    return engine.LiveState(database_exists=True, ledger=ledger, probes=probes)


def test_decide_policy_units_against_ledger_and_live_state() -> None:
    unit = _unit()
    assert engine.decide(unit, _live(None))[0]
    assert engine.decide(unit, _live(unit.checksum)) == (False, "applied, matches the spec")
    assert engine.decide(unit, _live("0" * 64))[0]
    due, why = engine.decide(unit, _live(unit.checksum, "3600"))
    assert due and "'3600' differs from the spec's '86400'" in why
    assert engine.decide(unit, _live(unit.checksum, None)) == (True, "not found in the database")


def test_changed_schema_unit_is_an_error_naming_the_file() -> None:
    unit = _unit("schema")
    with pytest.raises(engine.ChangedSchemaUnit, match=r"^spec \(20-hypertables/t.x\) was applied"):
        engine.decide(unit, _live("ab" * 32))


def test_script_runs_the_unit_and_its_ledger_row_in_one_transaction() -> None:
    unit = _unit()
    text = engine.script(unit, "apache", "telemetry_owner", "5min", "10s")
    lines = text.splitlines()
    assert lines[:2] == ["SET statement_timeout = '5min';", "SET lock_timeout = '10s';"]
    assert lines.index("BEGIN;") < lines.index("SELECT 1;") < len(lines) - 2
    assert lines[-2].startswith("INSERT INTO timestack.schema_migrations")
    assert lines[-1] == "COMMIT;"
    assert 'SET LOCAL ROLE "telemetry_owner";' in lines


def test_cli_prints_phase_file_and_statements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--spec", str(ROOT / "sql/timeseries.yml"), "--edition", "timescale"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-- Timestack schema plan: edition timescale, PostgreSQL 17, 36 units")
    # Self-contained: the ledger's schema (which the monitoring views live in) comes first.
    assert out.index("CREATE SCHEMA IF NOT EXISTS timestack;") < out.index("-- phase 10-schema")
    assert "-- phase 20-hypertables | telemetry.vehicle_telemetry | policy, one transaction" in out
    assert "SELECT set_chunk_time_interval('telemetry.vehicle_telemetry', INTERVAL '1 day');" in out


def test_cli_reports_spec_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("hypertables: [{table: nope}]\n")
    assert main(["plan", "--spec", str(bad), "--edition", "apache"]) == 2
    assert "hypertables[0].table: got 'nope'" in capsys.readouterr().err
