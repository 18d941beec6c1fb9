"""An alert rule as data: what templates/monitoring/alerts.yml.j2 renders."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str  # Prometheus duration: how long the condition must hold
    severity: str  # "critical" pages, "warning" waits for working hours
    summary: str  # annotation; may use {{ $labels.x }} and {{ $value }}
    source: str  # where the threshold comes from
    threshold: str  # the figure in words, for the comment above the rule


@dataclass(frozen=True)
class Group:
    name: str
    alerts: tuple[Alert, ...]
