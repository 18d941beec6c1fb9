"""When a running PostgreSQL is restarted for an upgraded binary, in which turn, and with
pgBouncer paused or not. Pure: the facts come from roles.replaced_files.

Order: standbys first, then primaries, one host at a time (each turn is its own operation,
called with `_serial`, standbys' before primaries' on every host, so pyinfra runs every
standby's turn before any primary's). A standby restarts without touching writes; its
primary restarts last, while its standbys stream again, and the pgBouncer in front of it
(PAUSE, RESUME) makes clients wait instead of fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Turn = Literal["standby", "primary"]
TURNS: tuple[Turn, ...] = ("standby", "primary")
PLURAL: dict[Turn, str] = {"standby": "standbys", "primary": "primaries"}


def binaries(version: int) -> str:
    """What the postgresql-<version> package runs: the postmaster and the libraries it
    loads (shared_preload_libraries such as TimescaleDB's loader) live under it."""
    return f"/usr/lib/postgresql/{version}/"


def turn_of(standby: bool) -> Turn:
    return "standby" if standby else "primary"


@dataclass(frozen=True)
class Restart:
    replaced: tuple[str, ...]  # the files the running postmaster still has from before
    pause: bool  # PAUSE the host's pgBouncer around it

    @property
    def because(self) -> str:
        shown = ", ".join(self.replaced[:3]) + (", …" if len(self.replaced) > 3 else "")
        return f"replaced on disk since it started: {shown}"


def decide(
    replaced: Sequence[str] | None,
    standby: bool,
    turn: Turn,
    pgbouncer: bool,
    pool_mode: str,
) -> Restart | str:
    """A Restart in this host's turn when its postmaster runs replaced files, else why not
    (the no-op line). `replaced`: the ReplacedFiles fact (None: not running); `pgbouncer`:
    the host runs one (group pgbouncer). In session pooling PAUSE waits for every client to
    disconnect: clients lose their sessions with the server anyway, so it is not paused."""
    if replaced is None:
        return "PostgreSQL is not running: it starts with the installed binary"
    if not replaced:
        return "PostgreSQL runs the installed binary"
    mine = turn_of(standby)
    if turn != mine:
        when = "before the primaries" if mine == "standby" else "after the standbys"
        return f"a {mine}: restarted for its upgraded binary {when}"
    return Restart(tuple(replaced), pause=pgbouncer and pool_mode != "session")


def report(host: str, service: str, paused: bool, seconds: float, because: str) -> str:
    """What the deploy prints after a restart: why, and how long writes waited."""
    if paused:
        waited = f"write pause {seconds:.2f} s (pgBouncer PAUSE until RESUME)"
    else:
        waited = f"{seconds:.2f} s until it accepted connections again (no pgBouncer paused)"
    return f"[{host}] restarted {service}, {because}\n[{host}] {waited}"
