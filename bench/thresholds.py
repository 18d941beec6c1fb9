"""Validation: each figure against its threshold from host data (bench.spec.BenchSpec).

Throughput and the speed-up are held at their median, latencies at their p95 (the seeds
state query targets at the 95th percentile). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bench.spec import BenchSpec
from bench.stats import BY_KEY, Summary


@dataclass(frozen=True)
class Check:
    metric: str
    statistic: Literal["median", "p95"]
    threshold: float
    setting: str  # the host-data key that sets the threshold

    @property
    def at_least(self) -> bool:
        return BY_KEY[self.metric].higher_is_better

    def describe(self) -> str:
        sign = ">=" if self.at_least else "<="
        return f"{self.statistic} {sign} {self.threshold:g} {BY_KEY[self.metric].unit}"


def checks(spec: BenchSpec) -> list[Check]:
    return [
        Check("insert_pgbouncer", "median", spec.insert_rows_per_s, "bench.insert_rows_per_s"),
        Check("range_1h", "p95", spec.range_1h_ms, "bench.range_1h_ms"),
        Check("latest_row", "p95", spec.latest_row_ms, "bench.latest_row_ms"),
        Check("agg_raw", "p95", spec.aggregate_ms, "bench.aggregate_ms"),
        Check("rollup_speedup", "median", spec.rollup_speedup, "bench.rollup_speedup"),
    ]


@dataclass(frozen=True)
class Outcome:
    check: Check
    figure: float

    @property
    def passed(self) -> bool:
        if math.isnan(self.figure):
            return False
        if self.check.at_least:
            return self.figure >= self.check.threshold
        return self.figure <= self.check.threshold

    def line(self) -> str:
        metric = BY_KEY[self.check.metric]
        verdict = "ok    " if self.passed else "MISSED"
        return (
            f"{verdict} {metric.key} ({metric.label}): {self.check.statistic} "
            f"{self.figure:,.2f} {metric.unit}, threshold {self.check.describe()} "
            f"({self.check.setting})"
        )


def evaluate(figures: Mapping[str, Summary], spec: BenchSpec) -> list[Outcome]:
    """One outcome per check; a metric that was not measured is a miss (figure NaN)."""
    outcomes = []
    for check in checks(spec):
        summary = figures.get(check.metric)
        figure = math.nan if summary is None else getattr(summary, check.statistic)
        outcomes.append(Outcome(check, float(figure)))
    return outcomes
