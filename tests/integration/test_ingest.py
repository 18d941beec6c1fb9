"""The ingest writers on the lab: one row per acknowledged message through the failures a
writer tier lives with, and bad messages kept with their reason while their batch's good
rows land.

A numbered stream of seed-000 vehicle messages (bench/telemetry_feed.py, run on a broker
host, acks=all) flows through the three writers while (1) a writer is killed with SIGKILL
mid-stream, (2) a broker is killed with SIGKILL, (3) PostgreSQL restarts. Then the rows
are compared with what the brokers acknowledged: 0 lost, 0 duplicated. Bounded: 100,000
messages at 2,000 a second, at most 6 minutes of waiting. The counts are printed (-s).
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from roles.ingest import config
from tests.integration.ingest_lab import (
    BOOTSTRAP,
    FEED_CLIENT,
    REJECTS,
    TABLE,
    WRITERS,
    acknowledged,
    forget,
    producer,
    rows,
    run_prefix,
    wait_for_rows,
)
from tests.integration.kafka_lab import kill_and_start, on
from tests.integration.lab_access import db_sql

COUNT, RATE = 100_000, 2_000


def test_bad_messages_are_kept_with_their_reason_and_their_batch_lands(ingest_feed: str) -> None:
    prefix = run_prefix("IB")
    feed = [ingest_feed, "bad", "--bootstrap", BOOTSTRAP, *FEED_CLIENT, "--prefix", prefix]
    where: dict[str, list[int]] = json.loads(on(WRITERS[0], "python3", *feed))
    try:
        good = wait_for_rows(prefix, 3, 120)
        query = (
            f"SELECT \"offset\", coalesce(sqlstate, '-'), error FROM {REJECTS} "
            f"WHERE convert_from(key, 'UTF8') = '{prefix}' ORDER BY \"offset\""
        )
        deadline = time.monotonic() + 60
        rejects: dict[int, tuple[str, str]] = {}
        while len(rejects) < 6 and time.monotonic() < deadline:
            rejects = {
                int(offset): (state, error)
                for offset, state, error in (
                    line.split("|", 2) for line in db_sql(query, "telemetry").splitlines()
                )
            }
            time.sleep(1)
    finally:
        forget(prefix)
    by_case = {case: rejects.get(offset) for case, (_partition, offset) in where.items()}
    print(f"\nbad messages: {json.dumps(by_case, indent=1)}")
    assert sorted(good) == ["0", "4", "5"], f"good rows of the batch: {good}"
    assert by_case["good_before"] is None and by_case["good_after"] is None
    assert by_case["unknown_field_kept_as_row"] is None, "an unknown field is ignored, not refused"
    expected = {
        "not_json": ("-", "not JSON"),
        "not_utf8": ("-", "not UTF-8"),
        "not_an_object": ("-", "not a JSON object"),
        "wrong_type": ("22P02", "invalid input syntax for type numeric"),
        "out_of_range": ("23514", "vehicle_telemetry_fuel_level_check"),
        "missing_required": ("23502", 'value in column "time" violates not-null'),
    }
    for case, (state, words) in expected.items():
        found = by_case[case]
        assert found is not None, f"{case}: not kept in {REJECTS}"
        assert found[0] == state and words in found[1], f"{case}: kept as {found}"


def _writer_pid(name: str) -> str:
    return on(name, "systemctl", "show", config.UNIT, "--property", "MainPID").strip()


def test_one_row_per_acknowledged_message_through_kills_and_a_restart(ingest_feed: str) -> None:
    prefix = run_prefix("IN")
    stream = producer(ingest_feed, prefix, COUNT, RATE)
    events: dict[str, Any] = {}
    try:
        time.sleep(8)
        before = _writer_pid(WRITERS[1])
        on(WRITERS[1], "systemctl", "kill", "--signal=SIGKILL", config.UNIT)
        events["writer SIGKILL"] = {"host": WRITERS[1], "pid": before, "rows": len(rows(prefix))}
        time.sleep(6)
        events["broker SIGKILL"] = {"host": WRITERS[2], **kill_and_start(WRITERS[2])}
        events["postgres restart"] = {"rows": len(rows(prefix))}
        db_restart = subprocess.run(
            ["docker", "exec", "ts-db1", "systemctl", "restart", "postgresql@17-main"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert db_restart.returncode == 0, db_restart.stderr
        out, err = stream.communicate(timeout=420)
        assert stream.returncode == 0, err[-2000:]
        produced = json.loads(out.strip().splitlines()[-1])
        acked = acknowledged()
        landed = wait_for_rows(prefix, len(acked), 360)
        restarted = _writer_pid(WRITERS[1])
    finally:
        if stream.poll() is None:
            stream.kill()
        written = rows(prefix)
        forget(prefix)
    counts = {
        **produced,
        "rows": len(landed),
        "distinct_rows": len(set(landed)),
        "lost": len(acked - set(landed)),
        "duplicated": len(landed) - len(set(landed)),
        "unacknowledged_written": len(set(landed) - acked),
        "rows_at_cleanup": len(written),
        "events": events,
    }
    print(f"\ningest counts: {json.dumps(counts, sort_keys=True)}")
    assert (produced["failed"], produced["unsent"]) == (0, 0), counts
    assert produced["acknowledged"] == COUNT, counts
    assert restarted not in ("0", before), f"systemd did not restart the killed writer: {counts}"
    assert counts["lost"] == 0, counts
    assert counts["duplicated"] == 0, counts
    assert counts["distinct_rows"] == len(acked), counts


def _duplicates_written() -> int:
    """Redelivered messages the writers found written already (0 for one still starting)."""
    total = 0
    for name in WRITERS:
        text = subprocess.run(
            ["docker", "exec", name, "curl", "-fsS", f"http://{name}:9309/metrics"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        total += sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in text.splitlines()
            if line.startswith(f'timestack_ingest_duplicates_total{{table="{TABLE}"}}')
        )
    return total


def test_redelivered_messages_are_written_once(ingest_feed: str) -> None:
    """Offsets moved back (what a crash between the database commit and the offset commit
    does): every message comes again, and each row is still there once."""
    prefix, count = run_prefix("IR"), 20_000
    since = on(WRITERS[0], "date", "+%s%3N").strip()
    time.sleep(1)
    on(WRITERS[0], "python3", ingest_feed, "produce", "--bootstrap", BOOTSTRAP, *FEED_CLIENT,
       "--prefix", prefix, "--count", str(count))  # fmt: skip
    try:
        first = wait_for_rows(prefix, count, 120)
        for name in WRITERS:
            on(name, "systemctl", "stop", config.UNIT)
        on(
            WRITERS[0],
            "python3",
            ingest_feed,
            "rewind",
            "--bootstrap",
            BOOTSTRAP,
            *FEED_CLIENT,
            "--since-ms",
            since,
        )
        for name in WRITERS:
            on(name, "systemctl", "start", config.UNIT)
        deadline = time.monotonic() + 180
        while _duplicates_written() < count and time.monotonic() < deadline:
            time.sleep(2)
        again = rows(prefix)
        duplicates = _duplicates_written()
    finally:
        forget(prefix)
    print(f"\nredelivered: {count} messages, duplicates written once: {duplicates}")
    assert len(first) == count
    assert duplicates >= count, f"only {duplicates} redelivered messages seen"
    assert sorted(again) == sorted(first), "a redelivered message changed the rows"
