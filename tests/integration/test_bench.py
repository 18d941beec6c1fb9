"""`python -m bench` on the lab: a tiny run, tuned vs a stock cluster made for the run.
Asserts the report's shape (every metric for both clusters, the plot), never the figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main as bench_main
from bench.stats import METRICS
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
