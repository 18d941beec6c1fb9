"""A planned switchover on the lab while a steady write load runs through pgBouncer, from a
client following the primary as libpq does (target_session_attrs=read-write over both
pools): it waits no longer than the reported write pause and no committed row is lost; the
old primary follows the new one, the old inventory is refused, the switched one deploys
(then changes nothing), the restore drill passes on the new timeline. The lab is switched
back afterwards."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.secrets import lab_secrets
from tests.integration.ingest_lab import acknowledged, forget, producer, run_prefix, wait_for_rows
from tests.integration.inventories import lab_variant
from tests.integration.lab_access import LAB_INVENTORY, db_sql
from tests.integration.pool_writer import Writer, pool_port
from tests.integration.pyinfra_run import DeployRun, run_pyinfra

PRIMARY, STANDBY = "ts-db1", "ts-db2"
TABLE = "public.timestack_switchover_probe"
LOAD_SECONDS = 2.0  # of steady writes before and after the switchover
# The client's own share of its outage: its pause between attempts and a reconnect through
# two hosts.
CLIENT_SLACK_SECONDS = 3.0
# The ingest writers' stream through the switchover: 30 s of messages, 200 a second.
INGEST_MESSAGES, INGEST_RATE = 6_000, 200


def _digest(ids: list[int]) -> str:
    return hashlib.md5(",".join(f"{i}r{i}" for i in sorted(ids)).encode()).hexdigest()


SWITCHED: dict[str, dict[str, Any]] = {
    PRIMARY: {"postgres": {"upstream": STANDBY}},
    STANDBY: {"postgres": {"upstream": None}},
}


@pytest.fixture
def switched_inventory(first_deploy: DeployRun) -> Iterator[Path]:
    """The inventory after the switchover; afterwards the lab is switched back and deployed
    with its own inventory again."""
    with lab_variant("switched", SWITCHED) as inventory:
        yield inventory
        if db_sql("SELECT pg_is_in_recovery()") == "t":
            back = run_pyinfra(inventory, "ops/switchover.py", "--data", f"switchover_to={PRIMARY}")
            assert back.returncode == 0, back.output[-3000:]
    restored = run_pyinfra(LAB_INVENTORY)
    assert restored.returncode == 0, restored.output[-3000:]


def test_switchover_under_write_load_pauses_as_reported_and_loses_nothing(
    switched_inventory: Path, ingest_feed: str
) -> None:
    db_sql(
        f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id bigint PRIMARY KEY, "
        f"payload text NOT NULL); GRANT SELECT, INSERT ON {TABLE} TO telemetry_app",
        "telemetry",
    )
    # The ingest writers carry a numbered stream through the switchover too: they follow the
    # primary (libpq multi-host, target_session_attrs=read-write) without a redeploy.
    prefix = run_prefix("IS")
    stream = producer(ingest_feed, prefix, INGEST_MESSAGES, INGEST_RATE)
    writer = Writer(lab_secrets()["TIMESTACK_PG_APP_PASSWORD"], TABLE)
    writer.start()
    time.sleep(LOAD_SECONDS)
    before = len(writer.acked)
    run = run_pyinfra(LAB_INVENTORY, "ops/switchover.py", "--data", f"switchover_to={STANDBY}")
    during = len(writer.acked)
    time.sleep(LOAD_SECONDS)
    writer.stop.set()
    writer.join(30)
    assert run.returncode == 0, run.output[-4000:]
    report = re.search(r"write pause\s+([\d.]+) s", run.output)
    assert report, run.output[-3000:]
    acked, gap, pause = len(writer.acked), writer.longest_gap(), float(report[1])
    print(
        f"\nreported write pause {pause:.2f} s; the client went {gap:.2f} s without a commit; "
        f"{acked} rows acknowledged; errors {sorted(set(writer.errors))}"
    )
    assert before > 0 and len(writer.acked) > during, "the load did not run on both sides"
    assert writer.port == pool_port(STANDBY), "the writer never reached the new primary"
    # What the client saw is the pause the report gives (give or take its reconnects), and
    # the demoted host's pgBouncer never passed it off as the primary.
    assert gap <= pause + CLIENT_SLACK_SECONDS, f"outage {gap:.2f} s, reported {pause:.2f} s"
    assert not [e for e in writer.errors if "read-only" in e], writer.errors

    present = db_sql(
        f"SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM {TABLE}",
        "telemetry",
        STANDBY,
    )
    stored = {int(i) for i in present.split(",") if i}
    lost = sorted(set(writer.acked) - stored)
    assert lost == [], f"{len(lost)} committed rows lost: {lost[:20]}"
    ids = ",".join(map(str, writer.acked))
    server_digest = db_sql(
        f"SELECT md5(string_agg(id::text || payload, ',' ORDER BY id)) FROM {TABLE} "
        f"WHERE id IN ({ids})",
        "telemetry",
        STANDBY,
    )
    assert server_digest == _digest(writer.acked), "rows differ from what was committed"

    out, err = stream.communicate(timeout=300)
    assert stream.returncode == 0, err[-2000:]
    messages = acknowledged()
    try:
        landed = set(wait_for_rows(prefix, len(messages), 180, STANDBY))
    finally:
        forget(prefix, STANDBY)
    print(f"ingest through the switchover: {len(messages)} acknowledged, {len(landed)} rows")
    assert len(messages) == INGEST_MESSAGES, out
    assert messages == landed, f"{len(messages - landed)} acknowledged messages without a row"

    # The old primary follows the new one.
    assert db_sql("SELECT pg_is_in_recovery()") == "t"
    assert db_sql("SELECT status, sender_host FROM pg_stat_wal_receiver") == f"streaming|{STANDBY}"
    # The inventory still names the old topology: refused, nothing changed.
    stale = run_pyinfra(LAB_INVENTORY)
    assert stale.returncode != 0
    assert "never demotes" in stale.output or "never promotes" in stale.output, stale.output[-2000:]
    assert not stale.changed

    # Updated: only the schema's job timers move to the new primary; then nothing changes.
    first = run_pyinfra(switched_inventory)
    assert first.returncode == 0, first.output[-4000:]
    assert all(name.startswith("Time-series schema |") for name in first.changed), first.changed
    second = run_pyinfra(switched_inventory)
    assert second.returncode == 0, second.output[-4000:]
    assert second.changed == {}, f"operations that changed on a second deploy: {second.changed}"

    # Backups on the new timeline, then point-in-time recovery from one.
    backup = run_pyinfra(switched_inventory, "ops/backup_now.py", "--data", "backup_type=full")
    assert backup.returncode == 0, backup.output[-4000:]
    drill = run_pyinfra(switched_inventory, "ops/restore_drill.py")
    assert drill.returncode == 0, drill.output[-4000:]
    assert "RESULT: PASS" in drill.output
