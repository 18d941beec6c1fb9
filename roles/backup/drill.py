"""The restore drill, as pure data: marker SQL, the scratch cluster's files, the verdict.

The drill proves point-in-time recovery end to end: marker rows are written before and
after a noted target time, the latest backup plus archived WAL is restored to that time
into a scratch data directory on a scratch port (never the live cluster), and the restored
table must equal the live table as of the target: every pre-target row present, every
post-target row absent, same count and checksum. ops/restore_drill.py runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DATABASE = "timestack_drill"  # its own database: the drill never writes into application data
TABLE = "drill.markers"
# Settings the restored cluster must not set lower than the primary did, or recovery stops
# ("insufficient parameter settings"); copied from the live cluster.
COPIED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
    "shared_preload_libraries",
)


def setup_sql(hypertable: bool) -> str:
    """The marker table, created once; a hypertable when TimescaleDB is available."""
    statements = [
        "CREATE SCHEMA IF NOT EXISTS drill",
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint GENERATED ALWAYS AS IDENTITY, "
        "run_id text NOT NULL, phase text NOT NULL, ts timestamptz NOT NULL "
        "DEFAULT clock_timestamp(), payload text NOT NULL)",
    ]
    if hypertable:
        statements += [
            "CREATE EXTENSION IF NOT EXISTS timescaledb",
            f"SELECT create_hypertable('{TABLE}', by_range('ts', INTERVAL '1 day'), "
            "if_not_exists => true)",
        ]
    return "; ".join(statements)


def insert_sql(run_id: str, phase: str, rows: int) -> str:
    return (
        f"INSERT INTO {TABLE} (run_id, phase, payload) SELECT '{run_id}', '{phase}', "
        f"md5('{run_id}' || '{phase}' || g) FROM generate_series(1, {rows}) g"
    )


def digest_sql(where: str = "true") -> str:
    """count|md5 over the rows in a fixed order; epoch seconds keep it free of TimeZone."""
    return (
        "SELECT count(*), coalesce(md5(string_agg(concat_ws('|', id, run_id, phase, "
        f"extract(epoch FROM ts), payload), ',' ORDER BY id)), '-') FROM {TABLE} WHERE {where}"
    )


def as_of_target(run_id: str) -> str:
    """Live rows that existed at the target: all but this run's post-target rows."""
    return f"NOT (run_id = '{run_id}' AND phase = 'after')"


def phase_count_sql(run_id: str, phase: str) -> str:
    return f"SELECT count(*) FROM {TABLE} WHERE run_id = '{run_id}' AND phase = '{phase}'"


def scratch_conf(port: int, directory: str, live: Mapping[str, str]) -> str:
    """postgresql.conf of the scratch cluster: local socket only, no archiving (a restored
    copy must never push WAL into the live stanza), no TimescaleDB jobs."""
    settings = {name: live[name] for name in COPIED_SETTINGS if name in live}
    settings |= {
        "port": str(port),
        "listen_addresses": "",
        "unix_socket_directories": directory,
        "archive_mode": "off",
        "shared_buffers": "128MB",
        "timescaledb.max_background_workers": "0",
        "timezone": "UTC",
        "logging_collector": "off",
    }
    body = "\n".join(f"{name} = '{value}'" for name, value in settings.items())
    return f"# scratch cluster of the Timestack restore drill; removed after the drill\n{body}\n"


SCRATCH_HBA = "local all postgres peer\n"


@dataclass(frozen=True)
class Digest:
    rows: int
    md5: str

    @classmethod
    def parse(cls, line: str) -> Digest:
        rows, md5 = line.strip().split("|")
        return cls(int(rows), md5)


@dataclass(frozen=True)
class Outcome:
    before_written: int
    after_written: int
    before_restored: int
    after_restored: int
    live_as_of_target: Digest
    restored: Digest

    @property
    def rows_lost(self) -> int:
        return max(0, self.live_as_of_target.rows - self.restored.rows)

    def problems(self) -> list[str]:
        found = []
        if self.before_restored != self.before_written:
            found.append(
                f"pre-target rows: {self.before_restored} restored of {self.before_written}"
            )
        if self.after_restored:
            found.append(f"post-target rows present: {self.after_restored} (expected 0)")
        if self.restored.rows != self.live_as_of_target.rows:
            found.append(
                f"row count: restored {self.restored.rows}, "
                f"live as of target {self.live_as_of_target.rows}"
            )
        if self.restored.md5 != self.live_as_of_target.md5:
            found.append(
                f"checksum: restored {self.restored.md5}, "
                f"live as of target {self.live_as_of_target.md5}"
            )
        return found


def report(outcome: Outcome, facts: Mapping[str, str], problems: list[str] | None = None) -> str:
    """The one-screen report: what was restored from where, and the verdict."""
    problems = outcome.problems() if problems is None else problems
    width = max(len(key) for key in [*facts, "before target"])
    lines = [f"  {key.ljust(width)}  {value}" for key, value in facts.items()]
    lines += [
        f"  {'before target'.ljust(width)}  written {outcome.before_written}, "
        f"restored {outcome.before_restored}",
        f"  {'after target'.ljust(width)}  written {outcome.after_written}, "
        f"restored {outcome.after_restored} (must be 0)",
        f"  {'as of target'.ljust(width)}  live {outcome.live_as_of_target.rows} rows "
        f"md5 {outcome.live_as_of_target.md5}",
        f"  {''.ljust(width)}  restored {outcome.restored.rows} rows md5 {outcome.restored.md5}",
    ]
    if problems:
        lines += [f"  DIFFERENCE: {problem}" for problem in problems]
        lines.append(f"RESULT: FAIL ({len(problems)} differences)")
    else:
        lines.append(
            f"RESULT: PASS: {outcome.rows_lost} rows lost, "
            f"{outcome.after_restored} post-target rows present"
        )
    return "\n".join(lines)
