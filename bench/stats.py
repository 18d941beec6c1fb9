"""The metrics the benchmark reports, and their summaries (median, p95). Pure."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Unit = Literal["rows/s", "messages/s", "MB/s", "ms", "x", "bytes"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: Unit
    higher_is_better: bool


METRICS: tuple[Metric, ...] = (
    Metric("copy_pgbouncer", "COPY via pgBouncer", "rows/s", True),
    Metric("copy_direct", "COPY direct", "rows/s", True),
    Metric("insert_pgbouncer", "INSERT 500/batch via pgBouncer", "rows/s", True),
    Metric("insert_direct", "INSERT 500/batch direct", "rows/s", True),
    Metric("insert_prepared_pgbouncer", "INSERT 500/batch prepared via pgBouncer", "rows/s", True),
    Metric("copy_factory", "COPY factory metrics direct", "rows/s", True),
    Metric("latest_row", "latest row per vehicle (LATERAL)", "ms", False),
    Metric("range_1h", "1-hour range, one vehicle", "ms", False),
    Metric("agg_raw", "1-day aggregate from raw", "ms", False),
    Metric("agg_rollup", "1-day aggregate from rollup", "ms", False),
    Metric("rollup_speedup", "rollup speed-up (raw / rollup)", "x", True),
    Metric("factory_agg_raw", "factory 1-day aggregate from raw", "ms", False),
    Metric("factory_agg_rollup", "factory 1-day aggregate from 1 h rollup", "ms", False),
    Metric("factory_rollup_speedup", "factory rollup speed-up (raw / rollup)", "x", True),
    Metric("bytes_per_row", "database size per row", "bytes", False),
)
BY_KEY: Mapping[str, Metric] = {metric.key: metric for metric in METRICS}


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95)

    @property
    def p05(self) -> float:
        return percentile(self.samples, 0.05)

    def as_dict(self) -> dict[str, object]:
        return {
            "median": self.median,
            "p95": self.p95,
            "p05": self.p05,
            "samples": list(self.samples),
        }


def ratio(metric: Metric, tuned: float, default: float) -> float:
    """How many times better tuned is than default (> 1: tuned better), by median."""
    if not tuned or not default or math.isnan(tuned) or math.isnan(default):
        return math.nan
    return tuned / default if metric.higher_is_better else default / tuned


# speed-up metric -> (raw query, rollup query) it divides
SPEEDUPS: Mapping[str, tuple[str, str]] = {
    "rollup_speedup": ("agg_raw", "agg_rollup"),
    "factory_rollup_speedup": ("factory_agg_raw", "factory_agg_rollup"),
}


def derived(figures: Mapping[str, Summary]) -> dict[str, Summary]:
    """Figures computed from others: the rollup speed-ups, pairwise per repetition."""
    out = {}
    for key, (raw_key, rollup_key) in SPEEDUPS.items():
        raw, rollup = figures.get(raw_key), figures.get(rollup_key)
        if raw is not None and rollup is not None:
            pairs = zip(raw.samples, rollup.samples, strict=False)
            out[key] = Summary(tuple(r / u for r, u in pairs if u > 0))
    return out
