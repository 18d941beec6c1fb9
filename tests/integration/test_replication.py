"""Streaming replication on the lab: ts-db2, restored from ts-backup1, streams from ts-db1;
rows committed on the primary appear on the standby; the deploy refuses what it must never
do on its own (demote, re-point) and tuning that breaks the hot-standby rule."""

from __future__ import annotations

import secrets
import time
from typing import Any

from roles.spec.topology import slot_name
from tests.integration.inventories import lab_variant
from tests.integration.lab_access import db_sql
from tests.integration.pyinfra_run import DeployRun, run_pyinfra

PRIMARY, STANDBY = "ts-db1", "ts-db2"
# A row committed on the primary is readable on the standby within this (it streams
# asynchronously; on the lab it takes milliseconds).
VISIBLE_WITHIN_S = 5.0
PROBE = "timestack_replication_probe"


def test_standby_was_built_from_the_repository_and_streams(first_deploy: DeployRun) -> None:
    assert db_sql("SELECT pg_is_in_recovery()", container=STANDBY) == "t"
    receiver = db_sql(
        "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver", container=STANDBY
    )
    assert receiver == f"streaming|{PRIMARY}|{slot_name(STANDBY)}"
    # Restored by pgBackRest (its restore_command), not copied from the primary.
    restore_command = db_sql("SHOW restore_command", container=STANDBY)
    assert "pgbackrest" in restore_command and "archive-get" in restore_command
    assert db_sql("SELECT pg_is_in_recovery()") == "f"


def test_a_committed_row_is_readable_on_the_standby_within_a_bound(
    first_deploy: DeployRun,
) -> None:
    token = secrets.token_hex(8)
    db_sql(f"CREATE TABLE IF NOT EXISTS {PROBE} (token text, at timestamptz DEFAULT now())")
    db_sql(f"INSERT INTO {PROBE} (token) VALUES ('{token}')")  # autocommit: committed here
    started = time.monotonic()
    seen = ""
    while time.monotonic() - started < VISIBLE_WITHIN_S:
        seen = db_sql(f"SELECT count(*) FROM {PROBE} WHERE token = '{token}'", container=STANDBY)
        if seen == "1":
            break
        time.sleep(0.05)
    waited = time.monotonic() - started
    print(f"row visible on {STANDBY} after {waited * 1000:.0f} ms")
    assert seen == "1", f"row committed on {PRIMARY} not on {STANDBY} after {VISIBLE_WITHIN_S}s"


def test_second_deploy_changes_nothing_on_the_standby(first_deploy: DeployRun, lab: str) -> None:
    second = run_pyinfra(lab)
    assert second.returncode == 0, second.output[-4000:]
    restored = next(
        (counts for name, counts in second.operations.items() if "Standby restored" in name), None
    )
    assert restored == (0, 0, 1), f"standby restore step: {restored} (changed, error, unchanged)"
    assert second.changed == {}, f"operations that changed on a second deploy: {second.changed}"


def test_standby_declared_a_primary_is_refused_before_any_change(first_deploy: DeployRun) -> None:
    # The inventory after a switchover that was not written down: ts-db2 named a primary.
    with lab_variant("standby_as_primary", {STANDBY: {"postgres": {"upstream": None}}}) as inv:
        run = run_pyinfra(inv)
    assert run.returncode != 0
    assert f"{STANDBY}: postgres.upstream: got nothing (a primary)" in run.output, run.output[
        -3000:
    ]
    assert "never promotes" in run.output
    assert "Traceback" not in run.output
    assert not run.changed
    assert db_sql("SELECT pg_is_in_recovery()", container=STANDBY) == "t"


def test_primary_declared_a_standby_is_refused_before_any_change(first_deploy: DeployRun) -> None:
    # ts-db1 named a standby of ts-db2: Timestack never demotes a primary.
    overrides: dict[str, dict[str, Any]] = {
        PRIMARY: {"postgres": {"upstream": STANDBY}},
        STANDBY: {
            "postgres": {
                "upstream": None,
                "replication": {
                    "role": {
                        "name": "timestack_replication",
                        "password_env": "TIMESTACK_PG_REPLICATION_PASSWORD",
                    }
                },
            }
        },
    }
    with lab_variant("primary_as_standby", overrides) as inv:
        run = run_pyinfra(inv)
    assert run.returncode != 0
    # Whichever host is prepared first refuses; both would.
    demote = f"{PRIMARY}: postgres.upstream: got '{STANDBY}'"
    promote = f"{STANDBY}: postgres.upstream: got nothing (a primary)"
    assert demote in run.output or promote in run.output, run.output[-3000:]
    assert "never demotes" in run.output or "never promotes" in run.output
    assert not run.changed
    assert db_sql("SELECT pg_is_in_recovery()") == "f"
    assert db_sql("SELECT pg_is_in_recovery()", container=STANDBY) == "t"


def test_standby_below_the_hot_standby_rule_is_refused(first_deploy: DeployRun) -> None:
    with lab_variant("small_standby", {STANDBY: {"postgres": {"max_connections": 150}}}) as inv:
        run = run_pyinfra(inv)
    assert run.returncode != 0
    assert (
        f"{STANDBY}: postgres.max_connections: got max_connections 150; expected at least 200"
        in run.output
    ), run.output[-3000:]
    assert not run.changed
