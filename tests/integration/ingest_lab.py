"""The lab's ingest writers as the integration tests reach them: the feed script on the first
writer host (bench/telemetry_feed.py), the rows a run wrote (each run has its own plate
prefix), and the writers running again afterwards."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

from roles.ingest import config
from tests.integration.kafka_lab import CLIENT_DIR, client_config, on
from tests.integration.lab_access import db_sql

FEED = Path(__file__).resolve().parents[2] / "bench" / "telemetry_feed.py"
WORK = "/srv/timestack-ingest-test"  # not /tmp: trixie's systemd mounts a tmpfs there
WRITERS = ("ts-kafka1", "ts-kafka2", "ts-kafka3")
BOOTSTRAP = ",".join(f"{name}:9092" for name in WRITERS)
# What install_feed writes: the feed's --client-config (tests/integration/kafka_lab.py).
FEED_CLIENT = ["--client-config", f"{CLIENT_DIR}/client.json"]
TABLE = "telemetry.vehicle_telemetry"
REJECTS = "timestack.ingest_rejects"


def install_feed() -> str:
    """The feed script on the first writer host, with the lab's test principal's client
    configuration (a root-only file: FEED_CLIENT); its path there."""
    on(WRITERS[0], "mkdir", "-p", WORK)
    subprocess.run(["docker", "cp", str(FEED), f"{WRITERS[0]}:{WORK}/feed.py"], check=True)
    client_config(WRITERS[0])
    return f"{WORK}/feed.py"


def start_writers() -> None:
    for name in WRITERS:
        on(name, "systemctl", "start", config.UNIT)


def run_prefix(kind: str) -> str:
    return f"{kind}{uuid.uuid4().hex[:6]}"  # a plate prefix of its own: rows of this run only


def rows(prefix: str, primary: str = "ts-db1") -> list[str]:
    """driver_id (the message's number) of every row the run wrote."""
    query = f"SELECT driver_id FROM {TABLE} WHERE license_plate LIKE '{prefix}-%'"
    return db_sql(query, "telemetry", primary).split()


def wait_for_rows(prefix: str, wanted: int, seconds: float, primary: str = "ts-db1") -> list[str]:
    deadline = time.monotonic() + seconds
    found = rows(prefix, primary)
    while len(found) < wanted and time.monotonic() < deadline:
        time.sleep(2)
        found = rows(prefix, primary)
    return found


def forget(prefix: str, primary: str = "ts-db1") -> None:
    db_sql(f"DELETE FROM {TABLE} WHERE license_plate LIKE '{prefix}-%'", "telemetry", primary)
    rejects = f"DELETE FROM {REJECTS} WHERE convert_from(key, 'UTF8') = '{prefix}'"
    db_sql(rejects, "telemetry", primary)


def producer(feed: str, prefix: str, count: int, rate: int) -> subprocess.Popen[str]:
    """A numbered stream in the background; the acknowledged numbers go to WORK/acked."""
    on(WRITERS[0], "rm", "-f", f"{WORK}/acked")
    return subprocess.Popen(
        ["docker", "exec", WRITERS[0], "python3", feed, "produce", "--bootstrap", BOOTSTRAP,
         *FEED_CLIENT, "--prefix", prefix, "--count", str(count), "--rate", str(rate),
         "--dir", WORK],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def acknowledged() -> set[str]:
    return set(on(WRITERS[0], "cat", f"{WORK}/acked").split())
