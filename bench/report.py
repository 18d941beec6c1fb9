"""The results: a terminal table, a JSON document and a PNG plot of tuned vs default."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.stats import METRICS, Metric, Summary, ratio

Figures = Mapping[str, Mapping[str, Summary]]
NOISE = 0.10  # lab-facts: run-to-run spread of ±10-20 % on this class of machine


def verdict(value: float) -> str:
    if math.isnan(value):
        return ""
    if abs(value - 1) <= NOISE:
        return "≈ equal (within noise)"
    return "tuned better" if value > 1 else "default better"


def _cell(metric: Metric, summary: Summary | None) -> str:
    if summary is None or not summary.samples:
        return "-"
    if metric.unit in ("rows/s", "bytes"):
        return f"{summary.median:,.0f}"
    if len(summary.samples) == 1:
        return f"{summary.median:,.2f}"
    return f"{summary.median:,.2f} (p95 {summary.p95:,.2f})"


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as left-aligned columns, the first row a header underlined with dashes."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def table(figures: Figures) -> str:
    names = list(figures)
    compare = len(names) == 2
    header = ["metric", "unit", *names] + (["ratio", ""] if compare else [])
    rows = [header]
    for metric in METRICS:
        cells = [_cell(metric, figures[name].get(metric.key)) for name in names]
        row = [metric.label, metric.unit, *cells]
        if compare:
            value = _ratio(metric, figures, names)
            row += ["-" if math.isnan(value) else f"{value:.2f}", verdict(value)]
        rows.append(row)
    lines = aligned(rows)
    if compare:
        lines.append(
            f"ratio: how many times better {names[0]} is than {names[1]}, by median "
            "(> 1: tuned better). Tuning changes figures only when data exceeds memory, fsync "
            "is slow or ingest is sustained; a ratio near 1 on a data set that fits in the "
            "page cache is the expected result, not a failure."
        )
    return "\n".join(lines)


def _ratio(metric: Metric, figures: Figures, names: list[str]) -> float:
    first, second = (figures[name].get(metric.key) for name in names)
    if first is None or second is None:
        return math.nan
    return ratio(metric, first.median, second.median)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value  # JSON has no NaN


def document(
    figures: Figures, meta: Mapping[str, Any], metrics: Sequence[Metric] = METRICS
) -> dict[str, Any]:
    names = list(figures)
    out: dict[str, Any] = {**meta, "metrics": {}}
    for metric in metrics:
        entry: dict[str, Any] = {"label": metric.label, "unit": metric.unit}
        entry["higher_is_better"] = metric.higher_is_better
        for name in names:
            summary = figures[name].get(metric.key)
            entry[name] = (
                None
                if summary is None
                else {
                    key: (_number(v) if isinstance(v, float) else v)
                    for key, v in summary.as_dict().items()
                }
            )
        if len(names) == 2:
            entry["ratio"] = _number(_ratio(metric, figures, names))
        out["metrics"][metric.key] = entry
    return out


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def plot(figures: Figures, path: Path, title: str) -> None:
    """One small panel per metric: a bar per cluster at its median, whiskers to its p95."""
    import matplotlib

    matplotlib.use("Agg")  # no display: CI and ssh sessions
    import matplotlib.pyplot as plt

    names = list(figures)
    columns = 4
    rows = math.ceil(len(METRICS) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    colours = ["tab:blue", "tab:orange", "tab:green"]
    for index, metric in enumerate(METRICS):
        axis = axes[index // columns][index % columns]
        medians, errors = [], []
        for name in names:
            summary = figures[name].get(metric.key)
            median = summary.median if summary and summary.samples else 0.0
            p95 = summary.p95 if summary and summary.samples else 0.0
            medians.append(median)
            errors.append(max(0.0, p95 - median))
        axis.bar(
            names,
            medians,
            yerr=[[0.0] * len(names), errors],
            capsize=4,
            color=colours[: len(names)],
        )
        better = "higher is better" if metric.higher_is_better else "lower is better"
        axis.set_title(f"{metric.label}\n({metric.unit}, {better})", fontsize=8)
        axis.tick_params(labelsize=7)
    for index in range(len(METRICS), rows * columns):
        axes[index // columns][index % columns].axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
