"""A planned switchover (ops/switchover.py): the standby becomes the primary, the primary
its standby, nothing committed is lost.

Steps, each run now through python.call and deciding the next (a step that fails stops the
run and leaves or puts the old primary back in charge):
1. refuse unless the standby is in recovery, streams, and replays within its max_lag;
2. PAUSE the primary's pgBouncer (in-flight transactions finish, new ones wait), stop the
   primary cleanly: its walsender sends all WAL, up to the shutdown checkpoint, first;
3. the standby replays up to that checkpoint, is promoted (a new timeline) and gets a slot
   for the old primary;
4. the old primary's pgBouncer sends its clients on at once: it drops every pool (with the
   startup parameters pgBouncer cached from the primary, in_hot_standby off, which it would
   hand new clients as if the host were still writable) and the clients PAUSE held, so a
   client following the primary (libpq target_session_attrs=read-write) reconnects and
   finds the new one; the new primary's pgBouncer likewise drops the parameters its pools
   cached while it was a standby;
5. the old primary, given the configuration a deploy of the switched inventory writes
   (same rendering), starts as a standby of the new one (pg_rewind would be needed only if
   it had WAL past the fork; it cannot after a clean stop, so this is checked, not run) and
   streams; its pgBouncer's pools then serve reads and tell clients it is read-only.
Then a one-screen report: write pause (what a client sees), LSN, timeline. The inventory
must then say the new topology (postgres.upstream); until it does, deploy.py refuses both
hosts (roles/postgres/standby.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyinfra import host

from roles.backup.drill_run import Live
from roles.backup.runbook import RunbookError, run
from roles.pgbouncer.facts import admin_console
from roles.pgclient import STANDBY_SIGNAL, service_name
from roles.spec import HostSpec
from roles.spec.topology import slot_name, standbys_of

WAIT_SECONDS = 60.0
FOLLOW_WAIT_SECONDS = 300.0
# PAUSE returns once running transactions have finished: one that runs longer (or session
# pooling, where it waits for clients to leave) would hold every other client this long.
PAUSE_SECONDS = 30


@dataclass(frozen=True)
class Plan:
    old: str  # the primary now
    new: str  # the standby that takes over
    specs: Mapping[str, HostSpec]  # the inventory as it must read afterwards


def plan(specs: Mapping[str, HostSpec], target: str | None) -> Plan:
    """The switched inventory, or RunbookError when `target` cannot take over."""
    if target is None or target not in specs:
        raise RunbookError(
            f"--data switchover_to=<standby>: one of {', '.join(_standbys(specs)) or '(none)'}"
        )
    old = specs[target].postgres.upstream
    if old is None:
        raise RunbookError(f"{target} is a primary already (no postgres.upstream)")
    others = [name for name in standbys_of(old, specs.values()) if name != target]
    if others:
        raise RunbookError(
            f"{old} has other standbys ({', '.join(others)}): re-pointing them is not "
            "supported; switch over with one standby"
        )
    if specs[target].postgres.replication.role is None:
        raise RunbookError(
            f"{target}: postgres.replication.role: set the replication role on it too, so "
            f"{old} can stream from it once it is the primary"
        )
    switched = dict(specs)
    switched[target] = _with_upstream(specs[target], None)
    switched[old] = _with_upstream(specs[old], target)
    return Plan(old, target, switched)


def _standbys(specs: Mapping[str, HostSpec]) -> list[str]:
    return [name for name, spec in specs.items() if spec.postgres.upstream]


def _with_upstream(spec: HostSpec, upstream: str | None) -> HostSpec:
    return spec.model_copy(
        update={"postgres": spec.postgres.model_copy(update={"upstream": upstream})}
    )


@dataclass
class Progress:
    """What the steps learn, read by the later ones (one pyinfra run, one process)."""

    standby_ok: bool = False
    replication_ok: bool = False
    paused_at: float | None = None
    checkpoint_lsn: str | None = None
    promoted_at: float | None = None
    released_at: float | None = None  # the old primary's pgBouncer sent its clients on
    timeline: str | None = None
    switchpoint: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return self.promoted_at is not None


PROGRESS = Progress()


def wait_until(
    what: str, done: Callable[[], bool], seconds: float = WAIT_SECONDS, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise RunbookError(f"{host.name}: {what} not within {seconds:.0f}s")
        time.sleep(interval)


def check_standby(spec: HostSpec) -> None:
    state = Live(spec).sql(
        "SELECT pg_is_in_recovery(), coalesce((SELECT status FROM pg_stat_wal_receiver), '')",
        "postgres",
    )
    if state != "t|streaming":
        raise RunbookError(
            f"{host.name}: refused: not a streaming standby (in recovery|receiver: {state}); "
            "nothing was changed"
        )
    PROGRESS.standby_ok = True


def check_replication(spec: HostSpec, standby: str, max_lag: int) -> None:
    row = Live(spec).sql(
        "SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
        f"FROM pg_stat_replication WHERE application_name = '{slot_name(standby)}'",
        "postgres",
    )
    state, _, lag = row.partition("|")
    if state != "streaming" or not lag or int(lag) > max_lag:
        raise RunbookError(
            f"{host.name}: refused: {standby} is {state or 'not connected'}, replay lag "
            f"{lag or '?'} bytes (postgres.replication.max_lag {max_lag}); nothing was changed"
        )
    PROGRESS.replication_ok = True


def _console(spec: HostSpec, command: str) -> str:
    return run(admin_console(spec.pgbouncer.listen_port, command), f"pgBouncer {command}")


def pause(spec: HostSpec, pgbouncer: bool) -> None:
    """pgBouncer PAUSE: running transactions finish, new ones wait. One that does not finish
    within PAUSE_SECONDS resumes the clients and fails (nothing else was done)."""
    if not pgbouncer:
        return
    command = admin_console(spec.pgbouncer.listen_port, "PAUSE")
    try:
        run(f"timeout {PAUSE_SECONDS} {command}", f"pgBouncer PAUSE (within {PAUSE_SECONDS} s)")
    except RunbookError:
        resume(spec, pgbouncer)
        raise


def pause_and_stop(spec: HostSpec, pgbouncer: bool) -> None:
    """PAUSE (waits for running transactions), then a clean stop of the primary."""
    if not (PROGRESS.standby_ok and PROGRESS.replication_ok):
        raise RunbookError(f"{host.name}: refused: a check failed; nothing was changed")
    pause(spec, pgbouncer)
    PROGRESS.paused_at = time.monotonic()
    try:
        run(f"systemctl stop {service_name(spec.postgres)}", "stop the primary")
    except RunbookError:
        resume(spec, pgbouncer)
        raise
    control = run(
        f"runuser -u postgres -- /usr/lib/postgresql/{spec.postgres.version}/bin/pg_controldata "
        f"-D {spec.postgres.data_dir}",
        "pg_controldata",
    )
    fields = dict(line.split(":", 1) for line in control.splitlines() if ":" in line)
    state = fields.get("Database cluster state", "").strip()
    if state != "shut down":
        raise RunbookError(f"{host.name}: stopped, but the cluster state is {state!r}")
    PROGRESS.checkpoint_lsn = fields["Latest checkpoint location"].strip()


def resume(spec: HostSpec, pgbouncer: bool) -> None:
    if pgbouncer:
        _console(spec, "RESUME")


def release_clients(spec: HostSpec) -> None:
    """On the old primary once the new one accepts writes. pgBouncer hands each new client
    the startup parameters of its pool's first server login, kept for the pool's life: here
    in_hot_standby off, so libpq's target_session_attrs=read-write would take this host for
    the primary and every write would fail read-only once it runs as a standby. KILL drops
    the pools with those parameters, and the clients PAUSE held, which then reconnect: logins
    here fail until this host runs as a standby, then see it read-only."""
    _console(spec, "RECONNECT")  # no stale parameters even in the instant before KILL
    _console(spec, "RESUME")  # KILL is refused while pgBouncer is paused
    for database in spec.pgbouncer.databases:
        _console(spec, f"KILL {database.name}")
        _console(spec, f"RESUME {database.name}")
    PROGRESS.released_at = time.monotonic()


def promote(spec: HostSpec, old: str, pgbouncer: bool) -> None:
    """Replay all the old primary sent, promote, keep a slot for the old primary."""
    lsn = PROGRESS.checkpoint_lsn
    if lsn is None:
        raise RunbookError(f"{host.name}: the primary did not stop cleanly: not promoted")
    live = Live(spec)
    wait_until(
        f"replay up to the old primary's shutdown checkpoint {lsn}",
        lambda: live.sql(f"SELECT pg_last_wal_replay_lsn() > '{lsn}'::pg_lsn", "postgres") == "t",
    )
    if live.sql("SELECT pg_promote(true, 60)", "postgres") != "t":
        raise RunbookError(f"{host.name}: pg_promote did not finish within 60 s")
    PROGRESS.promoted_at = time.monotonic()
    if pgbouncer:
        # Its pools logged in while this was a standby (in_hot_standby on): RECONNECT drops
        # those parameters with the server connections, so new clients see a primary.
        _console(spec, "RECONNECT")
    # pg_control takes the new timeline only at a checkpoint: pgBackRest's backups (and
    # pg_rewind) read it there, so do not wait for the next scheduled one.
    live.sql("CHECKPOINT", "postgres")
    PROGRESS.timeline = str(
        int(live.sql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", "postgres"), 16)
    )
    history = live.sql(
        f"SELECT pg_read_file('pg_wal/{int(PROGRESS.timeline):08X}.history')", "postgres"
    )
    PROGRESS.switchpoint = history.strip().splitlines()[-1].split()[1]
    live.sql(f"SELECT pg_create_physical_replication_slot('{slot_name(old)}', true)", "postgres")


def follow(spec: HostSpec, new: str, pgbouncer: bool) -> None:
    """Start the stopped old primary as a standby of `new` (its pgBouncer runs already:
    release_clients), and report."""
    pg = spec.postgres
    if not PROGRESS.promoted:
        if PROGRESS.paused_at is None:
            raise RunbookError(f"{host.name}: not switched over; nothing was changed")
        run(f"systemctl start {service_name(pg)}", "start the old primary again")
        resume(spec, pgbouncer)
        raise RunbookError(f"{host.name}: {new} was not promoted: this host is the primary again")
    assert PROGRESS.checkpoint_lsn and PROGRESS.switchpoint
    live = Live(spec)
    if lsn(PROGRESS.checkpoint_lsn) >= lsn(PROGRESS.switchpoint):
        raise RunbookError(
            f"{host.name}: has WAL up to {PROGRESS.checkpoint_lsn}, past {new}'s fork at "
            f"{PROGRESS.switchpoint}: run pg_rewind against {new} before it can follow"
        )
    run(
        f"runuser -u postgres -- touch {pg.data_dir}/{STANDBY_SIGNAL}",
        "write standby.signal",
    )
    run(f"systemctl start {service_name(pg)}", "start as a standby")
    # The schema's job units are Requisite on PostgreSQL: a job due while it stopped failed
    # (and one running was stopped with it). On a standby they are skipped (ExecCondition).
    run("systemctl reset-failed 'timestack-*.service'", "clear interrupted jobs")
    # A standby asks the archive (pgBackRest archive-get) before it starts streaming, so a
    # slow repository delays the stream: wait as long as a restore step may take.
    wait_until(
        f"streaming from {new} (see its PostgreSQL log)",
        lambda: (
            live.sql("SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), '')", "postgres")
            == "streaming"
        ),
        FOLLOW_WAIT_SECONDS,
        interval=1.0,  # writes go to the new primary already: no pause is measured here
    )
    # Its old slot for `new` would hold WAL here forever.
    live.sql(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        f"WHERE slot_name = '{slot_name(new)}' AND NOT active",
        "postgres",
    )
    assert PROGRESS.paused_at is not None and PROGRESS.promoted_at is not None
    # What a client sees: from PAUSE until its pgBouncer sent it on to the new primary.
    released = PROGRESS.released_at or PROGRESS.promoted_at
    lines = [
        f"new primary        {new} (timeline {PROGRESS.timeline}, fork at {PROGRESS.switchpoint})",
        f"now its standby    {host.name} (streaming, slot {slot_name(host.name)} on {new})",
        f"old primary LSN    {PROGRESS.checkpoint_lsn} (shutdown checkpoint, replayed on {new})",
        f"write pause        {released - PROGRESS.paused_at:.2f} s "
        f"(pgBouncer PAUSE on {host.name} until its clients were sent on; {new} accepted "
        f"writes after {PROGRESS.promoted_at - PROGRESS.paused_at:.2f} s)",
        "next               set postgres.upstream: "
        f"{new} on {host.name} and none on {new} in the inventory",
    ]
    print("\nSwitchover\n" + "\n".join(lines) + "\n", file=sys.stderr, flush=True)


def lsn(text: str) -> int:
    """An LSN as PostgreSQL prints it (`0/C0000A0`), as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)
