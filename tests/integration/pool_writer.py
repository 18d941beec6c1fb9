"""A client writing through the lab's pgBouncer pools, as an application following the
primary does; shared by the switchover and upgrade-restart tests."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import psycopg

from lab import HOSTS
from tests.integration.lab_access import lab_tls

PRIMARY, STANDBY = "ts-db1", "ts-db2"


def pool_port(name: str) -> int:
    """Where this machine reaches `name`'s pgBouncer (its published port)."""
    return next(h for h in HOSTS if h.name == name).ports[6432]


class Writer(threading.Thread):
    """One client inserting numbered rows into `table` through pgBouncer, a commit each,
    following the primary the standard libpq way: both hosts' pools in one conninfo with
    target_session_attrs=read-write, reconnecting after an error. `acked`: the rows whose
    commit returned, `acked_at` when; `errors` and `errors_at` likewise (time.monotonic)."""

    def __init__(self, password: str, table: str) -> None:
        super().__init__(daemon=True)
        self.password = password
        self.table = table
        self.conninfo = (
            f"{lab_tls((PRIMARY, pool_port(PRIMARY)), (STANDBY, pool_port(STANDBY)))} "
            "dbname=telemetry user=telemetry_app target_session_attrs=read-write "
            "connect_timeout=2"
        )
        self.port: int | None = None  # the pool of the last connection
        self.acked: list[int] = []
        self.acked_at: list[float] = []
        self.errors: list[str] = []
        self.errors_at: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        next_id, connection = 0, None
        while not self.stop.is_set():
            try:
                if connection is None:
                    connection = psycopg.connect(
                        self.conninfo, password=self.password, autocommit=True,
                        prepare_threshold=None,
                    )  # fmt: skip
                    self.port = connection.info.port
                next_id += 1
                connection.execute(
                    f"INSERT INTO {self.table} (id, payload) VALUES (%s, %s)",
                    (next_id, f"r{next_id}"),
                )
                self.acked.append(next_id)
                self.acked_at.append(time.monotonic())
                time.sleep(0.005)
            except psycopg.Error as error:
                self.errors.append(str(error).splitlines()[0] if str(error) else repr(error))
                self.errors_at.append(time.monotonic())
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.05)
        if connection is not None:
            connection.close()

    def longest_gap(self, before: float | None = None) -> float:
        """The longest time without a commit (among commits before `before`, when given):
        the outage this client saw."""
        times = [t for t in self.acked_at if before is None or t < before]
        return max((b - a for a, b in pairwise(times)), default=0.0)
