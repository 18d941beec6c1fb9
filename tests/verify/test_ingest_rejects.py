"""The ingest writers' rejects, on the primary (group timescaledb), read-only: none younger
than ingest.rejects_window, unless that window is 0 (rejects expected)."""

from __future__ import annotations

from typing import Any

import pytest

from roles.ingest.config import PROJECT
from roles.pgclient import psql
from roles.schema.model import load_spec
from roles.units import parse_duration_ms

pytestmark = pytest.mark.group("timescaledb")


def test_no_recent_ingest_rejects(host: Any, spec: Any) -> None:
    if spec.postgres.upstream is not None:
        pytest.skip(f"a standby: rejects are kept on its primary {spec.postgres.upstream}")
    loaded = load_spec(PROJECT / spec.schema_.spec, PROJECT)
    window = parse_duration_ms(spec.ingest.rejects_window) / 1000
    if not loaded.spec.ingested or window == 0:
        pytest.skip("no table is fed by the ingest writers, or rejects are expected")
    rejects = loaded.spec.ingest.rejects
    pg = spec.postgres
    query = (
        f"SELECT count(*), string_agg(DISTINCT target || ': ' || error, '; ') FROM {rejects} "
        f"WHERE received_at > now() - interval '{window:g} seconds'"
    )
    output = host.check_output(psql(pg.version, pg.cluster, query, spec.schema_.database))
    count, reasons = output.split("|")
    assert count == "0", (
        f"{count} messages kept as rejects in the last {spec.ingest.rejects_window} "
        f"(SELECT * FROM {rejects}): {reasons[:500]}"
    )
