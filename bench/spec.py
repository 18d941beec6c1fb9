"""The `bench` section of host data: thresholds of `python -m bench validate`.

Read by bench alone (the deploy's validator leaves the section to it). Every default lives
here: group data and hosts set only what differs.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, ValidationError

from roles.spec.types import SpecModel


class BenchSpec(SpecModel):
    """Thresholds of `python -m bench validate` (defaults: the figures the reference systems
    promise, measured on 1M synthetic rows; see bench/thresholds.py)."""

    insert_rows_per_s: float = Field(
        10_000, description="batched INSERT (500 rows) via pgBouncer, rows/s at least", gt=0
    )
    range_1h_ms: float = Field(100, description="1-hour range of one vehicle, p95 ms at most", gt=0)
    latest_row_ms: float = Field(
        10, description="latest row of every vehicle (LATERAL), p95 ms at most", gt=0
    )
    aggregate_ms: float = Field(500, description="1-day aggregate from raw, p95 ms at most", gt=0)
    rollup_speedup: float = Field(
        10, description="1-day aggregate: raw median / rollup median, at least", gt=0
    )


def thresholds(host: str, data: Mapping[str, object]) -> BenchSpec:
    """The host's `bench` data (as pyinfra merges it) as thresholds; SystemExit naming each
    bad field."""
    try:
        return BenchSpec.model_validate(data.get("bench") or {})
    except ValidationError as error:
        faults = "; ".join(
            f"bench.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"{host}: {faults}") from None
