"""`python -m bench` and `python -m bench.index_cost` on the lab: tiny runs. Assert the
reports' shape (every metric for both clusters, the plot; both tables measured), never the
figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.__main__ import main as bench_main
from bench.index_cost import main as index_cost
from bench.stats import METRICS
from bench.target import from_inventory
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
