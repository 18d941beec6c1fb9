"""The edition decision and its refusal, policy jobs altered in place, per-tenant retention
on the timescale edition, rollup history, redundant-index warnings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from roles.schema.edition import EditionChanged, EditionEvidence, check_ledger, choose
from roles.schema.facts import TimescaleEdition
from roles.schema.indexes import primary_keys, redundant_indexes
from roles.schema.jobs import alter_or_add, job_source
from roles.schema.model import load_spec
from roles.schema.render import plan
from roles.schema.units import Unit

ROOT = Path(__file__).resolve().parents[2]


def shipped(edition: str, root: Path = ROOT) -> list[Unit]:
    return plan(load_spec(root / "sql/timeseries.yml", root), edition)  # type: ignore[arg-type]


def unit(units: list[Unit], key: str) -> Unit:
    return next(u for u in units if u.key == key)


@pytest.mark.parametrize(
    ("evidence", "source", "edition", "why"),
    [
        (EditionEvidence(licence="apache", library="timescale"), "timescale", "apache", "database"),
        (EditionEvidence(configured="apache", library="timescale"), "timescale", "apache", "conf"),
        # The first deploy on a host that already has the licensed build: not the source's.
        (EditionEvidence(library="timescale"), "debian", "timescale", "TSL module"),
        (EditionEvidence(library="apache"), "timescale", "apache", "no TSL module"),
        (EditionEvidence(), "debian", "apache", "Debian's package"),
        (EditionEvidence(), "timescale", "timescale", "Timescale's repository"),
    ],
)
def test_auto_edition_follows_the_strongest_evidence(
    evidence: EditionEvidence, source: str, edition: str, why: str
) -> None:
    chosen, reason = choose("auto", evidence, source)
    assert chosen == edition
    assert why in reason


def test_a_set_edition_wins_over_the_evidence() -> None:
    assert choose("apache", EditionEvidence(licence="timescale"), "timescale") == (
        "apache",
        "schema.edition is apache",
    )


def test_edition_fact_reads_library_configuration_and_licence() -> None:
    fact = TimescaleEdition()
    assert fact.process(["library|timescale", "timestack:offline"]) == EditionEvidence(
        library="timescale"
    )
    assert fact.process(["library|apache", "configured|timescale", "licence|apache"]) == (
        EditionEvidence(licence="apache", configured="timescale", library="apache")
    )
    assert fact.process([]) == EditionEvidence()
    command = fact.command(17, "main", "telemetry")
    assert "/usr/lib/postgresql/17/lib/timescaledb-tsl-*.so" in command
    assert "/etc/postgresql/17/main" in command


def test_ledger_of_the_other_edition_is_refused_with_the_way_out() -> None:
    check_ledger("timescale", {"10-schema/a.sql": "timescale"}, "why")
    with pytest.raises(EditionChanged) as refused:
        check_ledger(
            "timescale",
            {f"10-schema/{n}.sql": "apache" for n in "abcdef"},
            "the licensed TimescaleDB library (TSL module) is installed",
        )
    message = str(refused.value)
    assert "applied for the apache edition (10-schema/a.sql" in message
    assert "and 2 more" in message
    assert "renders the timescale edition (the licensed TimescaleDB library" in message
    assert "Changing the TimescaleDB edition" in message
    assert "schema.edition: apache" in message


def test_policies_are_altered_in_place_never_removed() -> None:
    sql = "\n".join(s for u in shipped("timescale") for s in u.statements)
    assert "remove_compression_policy" not in sql
    assert "remove_continuous_aggregate_policy" not in sql
    compression = unit(shipped("timescale"), "30-compression/telemetry.vehicle_telemetry")
    assert compression.statements[1] == (
        "SELECT alter_job(j.job_id, config => jsonb_set(j.config, '{compress_after}', "
        "to_jsonb(INTERVAL '1 week'))) FROM timescaledb_information.jobs j "
        "WHERE j.proc_name = 'policy_compression' AND j.hypertable_schema = 'telemetry' "
        "AND j.hypertable_name = 'vehicle_telemetry'"
    )
    refresh = unit(shipped("timescale"), "60-rollups/analytics.vehicle_hourly.refresh")
    assert refresh.statements[0].startswith(
        "SELECT alter_job(j.job_id, schedule_interval => INTERVAL '30 minutes', config => "
        "jsonb_set(jsonb_set(j.config, '{start_offset}', to_jsonb(INTERVAL '3 hours')), "
        "'{end_offset}', to_jsonb(INTERVAL '30 minutes')))"
    )
    assert "c.view_name = 'vehicle_hourly'" in refresh.statements[0]
    assert refresh.statements[1].endswith("if_not_exists => TRUE)")


def test_alter_or_add_without_schedule() -> None:
    source = job_source("policy_retention", "a.b")
    altered, added = alter_or_add(source, {"drop_after": "2 days"}, "SELECT add()")
    assert "schedule_interval" not in altered
    assert altered.endswith(source)
    assert added == "SELECT add()"


def test_compression_probe_names_the_hypertable_by_regclass() -> None:
    """hypertable_compression_settings has `hypertable` (regclass), no schema/name columns."""
    compression = unit(shipped("timescale"), "30-compression/telemetry.vehicle_telemetry")
    assert compression.probe is not None
    assert "s.hypertable_schema" not in compression.probe.sql
    assert "s.hypertable = 'telemetry.vehicle_telemetry'::regclass" in compression.probe.sql
    assert compression.probe.expected == "license_plate | time DESC | 604800"


def test_tenant_retention_on_timescale_is_timestacks_job_not_the_native_policy() -> None:
    units = shipped("timescale")
    tenants = unit(units, "40-retention/telemetry.vehicle_telemetry")
    assert tenants.statements[0] == (
        "SELECT remove_retention_policy('telemetry.vehicle_telemetry', if_exists => TRUE)"
    )
    assert "INSERT INTO timestack.retention_jobs" in tenants.statements[1]
    assert tenants.statements[2].startswith(
        "SELECT add_job('timestack.retention_job', INTERVAL '1 day') WHERE NOT EXISTS"
    )
    assert tenants.probe is not None
    assert tenants.probe.expected.endswith(" | 0 | 1")  # no native policy, one job
    plain = unit(units, "40-retention/factory_telemetry.metric_hist")
    assert "add_retention_policy('factory_telemetry.metric_hist'" in plain.statements[1]
    engine = unit(units, "10-schema/timestack-retention")
    assert any("PROCEDURE timestack.retention_job" in s for s in engine.statements)
    assert not any("refresh_rollups" in s for s in engine.statements)


def test_rollup_history_is_materialized_once_before_the_refresh() -> None:
    timescale = unit(shipped("timescale"), "60-rollups/factory_telemetry.metric_1hour.history")
    assert timescale.kind == "schema" and not timescale.transactional
    assert timescale.statements == (
        "CALL refresh_continuous_aggregate('factory_telemetry.metric_1hour', NULL, "
        "time_bucket(INTERVAL '1 hour', now() - INTERVAL '1 hour'))",
    )
    apache = unit(shipped("apache"), "60-rollups/factory_telemetry.metric_1hour.history")
    assert apache.kind == "schema" and apache.transactional
    (insert,) = apache.statements
    assert insert.startswith("INSERT INTO factory_telemetry.metric_1hour SELECT * FROM (")
    assert "least(coalesce((SELECT min(bucket) FROM factory_telemetry.metric_1hour)" in insert


def test_primary_keys_are_read_from_the_schema_files() -> None:
    keys = primary_keys(load_spec(ROOT / "sql/timeseries.yml", ROOT))
    assert keys["telemetry.vehicle_telemetry"] == ("license_plate", "time")
    assert keys["telemetry.vehicles"] == ("license_plate",)


def test_shipped_spec_has_no_redundant_index() -> None:
    assert list(redundant_indexes(load_spec(ROOT / "sql/timeseries.yml", ROOT))) == []


def test_index_repeating_the_primary_key_or_another_index_is_warned(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    spec = tmp_path / "sql/timeseries.yml"
    spec.write_text(
        spec.read_text().replace(
            "      - {name: vehicle_telemetry_geom_idx,",
            '      - {name: plate_time_idx, columns: [license_plate, "time DESC"]}\n'
            "      - {name: gps_idx, columns: [gps_status]}\n"
            '      - {name: gps_time_idx, columns: [gps_status, "time"]}\n'
            "      - {name: plate_partial_idx, columns: [license_plate], where: 'speed > 0'}\n"
            "      - {name: vehicle_telemetry_geom_idx,",
        )
    )
    warnings = list(redundant_indexes(load_spec(spec, tmp_path)))
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "timeseries.yml: hypertables[telemetry.vehicle_telemetry].indexes[plate_time_idx]: "
        "columns (license_plate, time DESC) repeat the leading columns of the primary key "
        "(license_plate, time)"
    )
    assert (
        "indexes[gps_idx]: columns (gps_status) repeat the leading columns of index "
        "gps_time_idx (gps_status, time)"
    ) in warnings[1]
