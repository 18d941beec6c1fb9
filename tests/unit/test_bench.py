"""The benchmark's pure parts: data generation, statistics, thresholds, report rendering.
Nothing here is timed: figures are given, never measured."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import datagen, pgbouncer_load, report, schema, workload
from bench.runner import Plan, generate
from bench.spec import BenchSpec, thresholds
from bench.stats import METRICS, Summary, derived, percentile, ratio
from bench.thresholds import evaluate
from roles.spec import HostInput, validate_inventory

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_generated_rows_are_the_same_for_the_same_seed() -> None:
    plates = datagen.plates(5, seed=7)
    first = list(datagen.vehicle_rows(plates, 60, START, seed=7))
    again = list(datagen.vehicle_rows(datagen.plates(5, seed=7), 60, START, seed=7))
    assert first == again
    assert datagen.copy_text(first) == datagen.copy_text(again)
    assert list(datagen.vehicle_rows(plates, 60, START, seed=8)) != first


def test_vehicle_rows_are_one_per_vehicle_per_second_in_time_order() -> None:
    plates = datagen.plates(3, seed=1)
    rows = list(datagen.vehicle_rows(plates, 10, START, seed=1))
    assert len(rows) == 30 == datagen.Sizes(vehicles=3, seconds=10).vehicle_rows
    assert [row[1] for row in rows] == sorted(row[1] for row in rows)
    assert {(row[0], row[1]) for row in rows} == {
        (plate, START + timedelta(seconds=s)) for plate in plates for s in range(10)
    }
    for row in rows:
        assert len(row) == len(datagen.VEHICLE_COLUMNS)
        assert len(row[0]) <= 20  # varchar(20)
        assert row[6] in ("A", "V")
        assert 0 <= row[11] <= 100  # fuel_level CHECK
        assert 0 <= row[4] <= 120
        assert json.loads(row[8])["can"]["rpm"] >= 0
        assert 120 < row[2] < 123 and 30 < row[3] < 33  # drifts, but stays near the city


def test_plates_are_distinct() -> None:
    plates = datagen.plates(500, seed=3)
    assert len(set(plates)) == 500


def test_metric_rows_set_exactly_one_value_of_the_metrics_type() -> None:
    defs = datagen.metric_defs(2)
    rows = list(datagen.metric_rows(defs, 5, START, seed=1))
    assert len(rows) == datagen.Sizes(vehicles=1, seconds=5, machines=2).metric_rows
    kinds = {d[0]: d[3] for d in defs}
    for metric_id, _, value_bool, value_int, value_real in rows:
        assert sum(v is not None for v in (value_bool, value_int, value_real)) == 1
        column = {"bool": value_bool, "int": value_int, "real": value_real}[kinds[metric_id]]
        assert column is not None


def test_copy_text_escapes_and_marks_nulls() -> None:
    text = datagen.copy_text([(1, None, True, "a\tb\\c\nd", START)]).decode()
    assert text == "1\t\\N\tt\ta\\tb\\\\c\\nd\t2026-01-01T00:00:00+00:00\n"


def test_bind_parameters_are_text_input_values_row_by_row() -> None:
    rows = [(1, None, True, "a\tb\\c", START), (2.5, "x", False, "{}", START)]
    assert datagen.bind_parameters(rows) == [
        b"1", None, b"t", b"a\tb\\c", b"2026-01-01T00:00:00+00:00",  # no COPY escaping
        b"2.5", b"x", b"f", b"{}", b"2026-01-01T00:00:00+00:00",
    ]  # fmt: skip


def test_insert_statement_numbers_placeholders_row_by_row() -> None:
    text = workload.insert_statement(2).decode()
    width = len(datagen.VEHICLE_COLUMNS)
    assert text.startswith(f"INSERT INTO {schema.TELEMETRY} ({', '.join(datagen.VEHICLE_COLUMNS)})")
    first, second = text.split(" VALUES ")[1].split("), (")
    assert first == "(" + ", ".join(f"${n}" for n in range(1, width + 1))
    assert second == ", ".join(f"${n}" for n in range(width + 1, 2 * width + 1)) + ")"


def test_insert_batches_carry_the_insert_slice_ready_to_bind() -> None:
    plan = Plan(datagen.Sizes(vehicles=3, seconds=400), start=START, insert_rows=1_100)
    data = generate(plan)
    width = len(datagen.VEHICLE_COLUMNS)
    assert [len(batch) // width for batch in data.insert_batches] == [500, 500, 100]
    flat = [value for batch in data.insert_batches for value in batch]
    assert flat == datagen.bind_parameters(data.rows[:1_100])


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)
    assert percentile([7.0], 0.95) == 7.0
    assert math.isnan(percentile([], 0.95))


def test_summary_and_ratio_direction() -> None:
    summary = Summary((5.0, 1.0, 3.0))
    assert summary.median == 3.0
    latency = next(m for m in METRICS if m.key == "range_1h")
    throughput = next(m for m in METRICS if m.key == "copy_direct")
    assert ratio(latency, 10.0, 20.0) == 2.0  # tuned half the latency: twice as good
    assert ratio(throughput, 20.0, 10.0) == 2.0
    assert math.isnan(ratio(throughput, 0.0, 10.0))


def test_rollup_speedups_are_derived_per_repetition() -> None:
    figures = {"agg_raw": Summary((100.0, 120.0)), "agg_rollup": Summary((5.0, 4.0))}
    figures |= {"factory_agg_raw": Summary((30.0,)), "factory_agg_rollup": Summary((0.5,))}
    speedups = derived(figures)
    assert speedups["rollup_speedup"].samples == (20.0, 30.0)
    assert speedups["factory_rollup_speedup"].samples == (60.0,)
    assert "factory_rollup_speedup" not in derived({"agg_raw": Summary((1.0,))})


def _figures(**medians: float) -> dict[str, Summary]:
    return {key: Summary((value,)) for key, value in medians.items()}


def test_validation_passes_at_the_seed_defaults() -> None:
    figures = _figures(
        insert_pgbouncer=12_000, range_1h=40, latest_row=2, agg_raw=300, rollup_speedup=25
    )
    assert all(outcome.passed for outcome in evaluate(figures, BenchSpec()))


def test_validation_names_each_missed_metric_figure_and_threshold() -> None:
    figures = _figures(insert_pgbouncer=8_000, range_1h=40, latest_row=12, agg_raw=300)
    missed = [o for o in evaluate(figures, BenchSpec()) if not o.passed]
    assert [o.check.metric for o in missed] == ["insert_pgbouncer", "latest_row", "rollup_speedup"]
    assert "insert_pgbouncer" in missed[0].line() and "8,000.00 rows/s" in missed[0].line()
    assert ">= 10000 rows/s" in missed[0].line() and "bench.insert_rows_per_s" in missed[0].line()
    assert "nan" in missed[2].line()  # not measured is a miss, said as such


def test_thresholds_come_from_host_data() -> None:
    spec = thresholds("db1", {"bench": {"latest_row_ms": 50}})
    outcome = next(
        o for o in evaluate(_figures(latest_row=20), spec) if o.check.metric == "latest_row"
    )
    assert outcome.passed


def test_bad_thresholds_name_the_field() -> None:
    with pytest.raises(SystemExit, match=r"db1: bench\.latest_row_ms: .*greater than 0"):
        thresholds("db1", {"bench": {"latest_row_ms": -1}})


def _two_clusters() -> dict[str, dict[str, Summary]]:
    tuned = {m.key: Summary((2.0, 2.2, 2.1)) for m in METRICS}
    default = {m.key: Summary((1.0, 1.1)) for m in METRICS}
    return {"tuned": tuned, "default": default}


def test_table_has_every_metric_and_a_ratio() -> None:
    text = report.table(_two_clusters())
    for metric in METRICS:
        assert metric.label in text
    assert "tuned better" in text and "default better" in text  # throughput vs latency
    assert "page cache" in text


def test_json_document_has_every_metric_for_both_clusters() -> None:
    doc = report.document(_two_clusters(), {"vehicles": 3})
    parsed = json.loads(json.dumps(doc))  # JSON-clean: no NaN
    assert parsed["vehicles"] == 3
    assert set(parsed["metrics"]) == {m.key for m in METRICS}
    for entry in parsed["metrics"].values():
        assert entry["tuned"]["median"] == 2.1 and entry["default"]["samples"] == [1.0, 1.1]
        assert entry["ratio"] is not None


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    report.plot(_two_clusters(), path, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_schema_copies_the_real_tables_and_renders_the_rollup() -> None:
    statements = schema.ddl()
    assert statements[0] == f"DROP SCHEMA IF EXISTS {schema.SCHEMA} CASCADE"
    assert (
        f"CREATE TABLE {schema.TELEMETRY} (LIKE telemetry.vehicle_telemetry INCLUDING ALL)"
        in statements
    )
    hypertables = [s for s in statements if "create_hypertable" in s]
    assert any("INTERVAL '1 day'" in s for s in hypertables)
    # Exactly the real table's indexes: TimescaleDB adds none of its own.
    assert all("create_default_indexes => FALSE" in s for s in hypertables)
    rollup = next(s for s in statements if s.startswith(f"CREATE TABLE {schema.HOURLY}"))
    assert f"FROM {schema.TELEMETRY}" in rollup and "telemetry.vehicle_telemetry\n" not in rollup
    assert all("INSERT" not in s and "telemetry.vehicle_telemetry (" not in s for s in statements)


def test_factory_rollup_chain_is_rendered_over_the_bench_tables() -> None:
    statements = schema.ddl()
    minute = next(s for s in statements if s.startswith(f"CREATE TABLE {schema.METRIC_1MIN}"))
    hour = next(s for s in statements if s.startswith(f"CREATE TABLE {schema.METRIC_1HOUR}"))
    assert f"FROM {schema.METRICS}" in minute and "INTERVAL '1 minute'" in minute
    assert f"FROM {schema.METRIC_1MIN}" in hour and "INTERVAL '1 hour'" in hour
    refresh = schema.refresh_rollup_sql()
    assert refresh[0].startswith("TRUNCATE") and schema.METRIC_1HOUR in refresh[0]
    targets = [s.split("\n")[0] for s in refresh[1:]]
    assert targets.index(f"INSERT INTO {schema.METRIC_1MIN}") < targets.index(
        f"INSERT INTO {schema.METRIC_1HOUR}"
    )  # a level is filled before the one built on it
    assert f"FROM {schema.METRIC_1HOUR}" in workload.QUERIES["factory_agg_rollup"]
    assert f"FROM {schema.METRICS}" in workload.QUERIES["factory_agg_raw"]


def test_noop_benchmark_counts_only_operations_that_changed_a_host() -> None:
    from bench.noop import changed_operations

    run = (
        '{"plan": [], "results": {"operations": ['
        '{"name": "Common | Timezone", "success": [], "error": [], "no_change": ["db1"]},'
        '{"name": "pgBouncer | ini", "success": ["db1"], "error": [], "no_change": []}]}}'
    )
    assert changed_operations(run) == ["pgBouncer | ini"]
    dry = (  # --dry: only the plan; an operation behind `_if` might change a host, not must
        '{"results": null, "plan": ['
        '{"name": "pgBouncer | ini", "hosts_with_change": [], '
        '"hosts_with_conditional_change": []},'
        '{"name": "pgBouncer | Restart", "hosts_with_change": [], '
        '"hosts_with_conditional_change": ["db1"]},'
        '{"name": "Kafka | topics", "hosts_with_change": ["kafka1"], '
        '"hosts_with_conditional_change": []}]}'
    )
    assert changed_operations(dry) == ["Kafka | topics"]


def test_noop_benchmark_runs_both_modes_against_connecting() -> None:
    from bench.noop import CONNECT, commands, summary

    runs = commands("inventory/lab.py")
    assert [command[1:3] for command in runs.values()] == [
        ["-y", "inventory/lab.py"],
        ["-y", "--json"],
        ["--dry", "--json"],
    ]
    lines = summary(
        {CONNECT: [1.0, 1.2, 1.1], "no-op deploy -y": [4.4], "no-op deploy --dry": [6.6]}
    )
    assert lines[-2:] == [
        "no-op deploy -y / connect: 4.0x (target: at most 5x)",
        "no-op deploy --dry / connect: 6.0x (target: at most 5x)",
    ]


def test_the_deploy_leaves_the_bench_section_to_bench() -> None:
    host = HostInput(name="db1", groups=frozenset(), data={"bench": {"latest_row_ms": -1}})
    assert "db1" in validate_inventory([host])


PGBENCH_RAN = """\
pgbench (17.11 (Debian 17.11-1))
transaction type: -
scaling factor: 1
query mode: simple
number of clients: 1000
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 268512
number of failed transactions: 0 (0.000%)
latency average = 55.866 ms
initial connection time = 4512.340 ms
tps = 17900.113195 (without initial connection time)
"""
PGBENCH_REFUSED = """\
pgbench (17.11 (Debian 17.11-1))
pgbench: error: connection to server at "127.0.0.1", port 6432 failed: FATAL:  no more connections allowed (max_client_conn)
pgbench: error: could not create connection for client 996
pgbench: error: connection to server at "127.0.0.1", port 6432 failed: FATAL:  no more connections allowed (max_client_conn)
pgbench: error: could not create connection for client 999
"""  # noqa: E501


def test_pgbench_report_of_a_clean_run_is_ok() -> None:
    result = pgbouncer_load.parse(0, PGBENCH_RAN)
    assert result.ok
    assert (result.clients, result.transactions, result.failed) == (1000, 268512, 0)
    assert (result.latency_ms, result.connect_ms) == (55.866, 4512.34)
    assert round(result.tps) == 17900


def test_a_refused_login_fails_the_load() -> None:
    result = pgbouncer_load.parse(1, PGBENCH_REFUSED)
    assert not result.ok
    assert result.aborted == 2
    report = pgbouncer_load.report("127.0.0.1:16432/telemetry as app", 1000, result)
    assert "0 ran of 1000; 2 refused or aborted" in report
    assert "no more connections allowed (max_client_conn)" in report


def test_pgbench_runs_the_declared_clients_on_the_simple_protocol() -> None:
    args = pgbouncer_load.pgbench_args("127.0.0.1", 6432, "telemetry", "app", 1000, 15)
    assert {"--client=1000", "--protocol=simple", "--file=-", "--no-vacuum"} <= set(args)
    assert args[-1] == "telemetry"
    assert not [arg for arg in args if "password" in arg.lower()]


def test_ingest_latency_quantiles_interpolate_inside_a_bucket() -> None:
    from bench.ingest import quantile

    before = {0.1: 10.0, 0.5: 10.0, 1.0: 10.0, float("inf"): 10.0}
    # 100 more: 50 under 0.1 s, 40 in (0.1, 0.5], 10 in (0.5, 1.0]
    after = {0.1: 60.0, 0.5: 100.0, 1.0: 110.0, float("inf"): 110.0}
    assert quantile(0.5, before, after) == 0.1
    assert round(quantile(0.7, before, after), 3) == 0.3
    assert round(quantile(0.95, before, after), 3) == 0.75


def test_ingest_latency_beyond_the_last_bound_is_that_bound() -> None:
    from bench.ingest import quantile

    after = {1.0: 0.0, float("inf"): 5.0}
    assert quantile(0.99, {}, after) == 1.0
