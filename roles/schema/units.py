"""Migration units: what the planner produces and the engine applies, one ledger row each.

A unit is one transaction (or, when `transactional` is False, a run of autocommit
statements that is safe to repeat). `schema` units are immutable once applied: the ledger
keeps their checksum and a different one is an error. `policy` units are reconciled: they run
again whenever their checksum or the live state (`probe`) differs from what the spec says.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Literal

Edition = Literal["timescale", "apache"]
EDITIONS: tuple[Edition, ...] = ("timescale", "apache")
Kind = Literal["schema", "policy"]
PHASES = (
    "10-schema",
    "20-hypertables",
    "30-compression",
    "40-retention",
    "50-indexes",
    "60-rollups",
    "70-monitoring",
    "80-ingest",
)


@dataclass(frozen=True)
class Probe:
    """A query returning one value that equals `expected` when the policy is in place."""

    sql: str
    expected: str

    def matches(self, value: str | None) -> bool:
        return value is not None and normalize(value) == normalize(self.expected)


def normalize(text: str) -> str:
    """Compare catalogue text loosely: case, quoting and default NULLS order do not matter."""
    text = re.sub(r"\s+", " ", text.replace('"', "").lower()).strip()
    text = re.sub(r" desc nulls first\b", " desc", text)
    return re.sub(r" asc( nulls last)?\b", "", text)


@dataclass(frozen=True)
class Unit:
    phase: str
    name: str  # ledger name: the file name, or the object the spec declares
    source: str  # where to fix it: "sql/10-schema/x.sql" or "sql/timeseries.yml: hypertables[t]"
    statements: tuple[str, ...]
    kind: Kind
    transactional: bool = True
    status: Literal["applied", "skipped"] = "applied"
    note: str = ""
    probe: Probe | None = None
    licensed: bool = False  # needs the timescale licence (TSL functions)
    content: str | None = None  # the file's text for user files: their checksum is the file's
    checksum: str = field(init=False)

    def __post_init__(self) -> None:
        if self.content is not None:
            digest = hashlib.sha256(self.content.encode()).hexdigest()
        else:
            payload = json.dumps([self.statements, self.status, self.note, self.transactional])
            digest = hashlib.sha256(payload.encode()).hexdigest()
        object.__setattr__(self, "checksum", digest)

    @property
    def key(self) -> str:
        return f"{self.phase}/{self.name}"
