"""Copies of the project's sql/ folder for tests that change a spec without touching it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def spec_without_ingest(tmp_path: Path) -> Path:
    """sql/ copied under `tmp_path`, its time-series spec without any ingest: block."""
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    spec = tmp_path / "sql" / "timeseries.yml"
    document = yaml.safe_load(spec.read_text())
    for table in document["hypertables"]:
        table.pop("ingest", None)
    spec.write_text(yaml.safe_dump(document))
    return spec
