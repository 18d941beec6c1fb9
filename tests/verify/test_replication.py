"""Checks for streaming replication (group timescaledb): each declared standby streams from
its primary through its slot, within the lag host data allows."""

from __future__ import annotations

from typing import Any

import pytest

from roles.spec import HostSpec, host_address
from roles.spec.topology import slot_name, standbys_of
from tests.verify.test_postgres import sql

pytestmark = pytest.mark.group("timescaledb")


def test_recovery_state_matches_the_inventory(host: Any, spec: Any) -> None:
    ((in_recovery,),) = sql(host, spec, "SELECT pg_is_in_recovery()")
    if spec.postgres.upstream is None:
        assert in_recovery == "f", "a primary in the inventory, but in recovery (a standby)"
    else:
        assert in_recovery == "t", (
            f"a standby of {spec.postgres.upstream} in the inventory, but not in recovery "
            "(it runs as a primary)"
        )


def test_standby_streams_from_its_declared_upstream(
    host: Any, spec: Any, inventory_specs: dict[str, HostSpec]
) -> None:
    upstream = spec.postgres.upstream
    if upstream is None:
        pytest.skip("a primary: it streams from no one")
    rows = sql(
        host,
        spec,
        "SELECT status, sender_host, sender_port, coalesce(slot_name, '') "
        "FROM pg_stat_wal_receiver",
    )
    assert rows, f"no WAL receiver: not streaming from {upstream}"
    ((status, sender, port, slot),) = rows
    assert status == "streaming", f"WAL receiver is {status!r}, not streaming"
    wanted = (host_address(upstream), str(inventory_specs[upstream].postgres.port))
    assert (sender, port) == wanted, f"streams from {sender}:{port}, not from {upstream}"
    assert slot == slot_name(spec.name), (
        f"streams through slot {slot!r}, not {slot_name(spec.name)}"
    )


def test_each_declared_standby_streams_with_its_slot_active_and_small_lag(
    host: Any, spec: Any, inventory_specs: dict[str, HostSpec]
) -> None:
    standbys = standbys_of(spec.name, inventory_specs.values())
    if not standbys:
        pytest.skip("no standby names this host as its upstream")
    rows = sql(
        host,
        spec,
        "SELECT s.slot_name, s.active, coalesce(r.state, ''), "
        "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint::text, '') "
        "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid "
        "WHERE s.slot_type = 'physical'",
    )
    slots = {name: (active, state, lag) for name, active, state, lag in rows}
    for standby in standbys:
        slot = slot_name(standby)
        assert slot in slots, f"no replication slot {slot} for standby {standby}"
        active, state, lag = slots[slot]
        assert active == "t", f"slot {slot} of {standby} is not active: it does not stream"
        assert state == "streaming", f"{standby} is {state!r}, not streaming"
        limit = inventory_specs[standby].postgres.replication.max_lag
        assert int(lag) <= limit, (
            f"{standby} replays {int(lag)} bytes behind, more than postgres.replication.max_lag "
            f"({limit})"
        )
