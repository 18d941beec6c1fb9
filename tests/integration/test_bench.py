"""`python -m bench`, `python -m bench.index_cost` and `python -m bench.tls_cost` on the lab:
tiny runs. Assert the reports' shape (every metric for both clusters, the plot; both tables
measured; both modes measured and nothing scratch left behind), never the figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import tls_kafka, tls_postgres
from bench.__main__ import main as bench_main
from bench.index_cost import main as index_cost
from bench.ingest import stack
from bench.stats import METRICS
from bench.target import from_inventory
from bench.tls_cost import METRICS as TLS_METRICS
from bench.tls_cost import main as tls_cost
from tests.integration.pyinfra_run import DeployRun


def test_tiny_benchmark_reports_every_metric_for_both_clusters(
    first_deploy: DeployRun, lab: str, tmp_path: Path
) -> None:
    code = bench_main(
        [
            "run", "--inventory", lab, "--host", "ts-db1", "--vehicles", "20",
            "--minutes", "10", "--reps", "1", "--query-reps", "2", "--machines", "1",
            "--results", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    (run,) = tmp_path.iterdir()
    doc = json.loads((run / "results.json").read_text())
    for metric in METRICS:
        entry = doc["metrics"][metric.key]
        for cluster in ("tuned", "default"):
            assert entry[cluster] and entry[cluster]["samples"], f"{metric.key}: no {cluster}"
    assert (run / "results.png").stat().st_size > 0


def test_the_index_cost_run_fills_both_tables_and_leaves_no_schema(
    first_deploy: DeployRun, lab: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = index_cost(
        ["--inventory", lab, "--host", "ts-db1", "--vehicles", "5", "--minutes", "5", "--reps", "2"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "1,500 rows per COPY" in out
    assert re.search(r"as deployed\s+median\s+[\d,]+ rows/s .* \(min .*, 2 runs\)", out), out
    assert re.search(r"\+ index\s+median\s+[\d,]+ rows/s .* \(min .*, 2 runs\)", out), out
    assert "the extra index costs" in out
    target = from_inventory(Path(lab), "ts-db1").tuned
    with target.connect() as connection:
        left = connection.execute("SELECT to_regnamespace('timestack_bench')").fetchone()
    assert left == (None,)


def test_the_tls_cost_run_measures_both_modes_and_leaves_nothing_behind(
    first_deploy: DeployRun, lab: str, tmp_path: Path
) -> None:
    code = tls_cost(
        ["--inventory", lab, "--rounds", "2", "--messages", "2000", "--results", str(tmp_path)]
    )
    assert code == 0
    (run,) = tmp_path.iterdir()
    doc = json.loads((run / "results.json").read_text())
    for metric in TLS_METRICS:
        entry = doc["metrics"][metric.key]
        for mode in ("plaintext", "tls"):
            samples = entry[mode]["samples"]
            assert len(samples) == 2 and all(value > 0 for value in samples), (metric.key, mode)
        assert entry["tls_cost"] is not None
    assert doc["postgres_tls"].startswith("TLSv1."), doc["postgres_tls"]
    assert "TLS costs" in (run / "report.txt").read_text()

    found = stack(lab)
    broker, primary = found.broker.shell, found.primary.shell
    assert broker.run(f"systemctl is-active {tls_kafka.UNIT} || true").strip() != "active"
    ports = " or ".join(f"sport = :{port}" for port in tls_kafka.PORTS.values())
    assert broker.run(f"ss -Hltn '( {ports} )'").strip() == ""
    for shell, work in ((broker, tls_kafka.WORK), (primary, tls_postgres.WORK)):
        assert shell.run(f"test -e {work} && echo left || echo gone").strip() == "gone", work
    assert "bench_defaults" not in primary.run("pg_lsclusters -h")
