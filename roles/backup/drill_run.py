"""The restore drill's steps on one database host (called by ops/restore_drill.py through
python.call, so every step runs now, in order, and its output decides the next)."""

from __future__ import annotations

import shlex
import sys
import time
from datetime import UTC, datetime

from pyinfra import host

from roles.backup import config, drill
from roles.backup.runbook import RunbookError, cause, run, stanza_info
from roles.pgclient import psql
from roles.spec import HostSpec

ARCHIVE_WAIT_SECONDS = 120
PROMOTE_WAIT_SECONDS = 300


class Live:
    """SQL on the live cluster, as the postgres OS user over the local socket."""

    def __init__(self, spec: HostSpec) -> None:
        self.version, self.cluster = spec.postgres.version, spec.postgres.cluster

    def sql(self, query: str, database: str = drill.DATABASE) -> str:
        return run(psql(self.version, self.cluster, query, database), query[:60]).strip()


def _scratch_sql(
    version: int, directory: str, port: int, query: str, database: str = drill.DATABASE
) -> str:
    command = (
        f"runuser -u postgres -- /usr/lib/postgresql/{version}/bin/psql -h {directory} "
        f"-p {port} -d {database} -XAtq -F '|' -v ON_ERROR_STOP=1 -c {shlex.quote(query)}"
    )
    return run(command, f"scratch cluster: {query[:60]}").strip()


def _wait_promoted(version: int, directory: str, port: int) -> None:
    """Until the scratch cluster has reached the target and promoted. Asked in database
    postgres, which every cluster has: the drill database may be younger than the backup,
    and exists in the scratch cluster only once replay has passed its creation. Hot standby
    accepts connections as soon as the restored copy is consistent, long before that."""
    deadline = time.monotonic() + PROMOTE_WAIT_SECONDS
    while True:
        try:
            query = "SELECT pg_is_in_recovery()"
            if _scratch_sql(version, directory, port, query, "postgres") == "f":
                return
            last = "still in recovery"
        except RunbookError as error:  # not accepting connections yet, or gone
            last = str(error)
            status = run(
                f"runuser -u postgres -- /usr/lib/postgresql/{version}/bin/pg_ctl -D {directory} "
                f"status >/dev/null && echo running || tail -n 20 {directory}.log",
                "scratch cluster status",
            )
            if status.strip() != "running":  # e.g. recovery ended before the target
                raise RunbookError(
                    f"{host.name}: the scratch cluster stopped in recovery: {cause(status)}"
                ) from None
        if time.monotonic() > deadline:
            raise RunbookError(
                f"{host.name}: scratch cluster did not reach the target within "
                f"{PROMOTE_WAIT_SECONDS}s ({last})"
            )
        time.sleep(1)


def _prepare(live: Live) -> bool:
    """The drill database and marker table; True when the table is a hypertable."""
    exists = live.sql(
        f"SELECT count(*) FROM pg_database WHERE datname = '{drill.DATABASE}'", "postgres"
    )
    if exists == "0":
        live.sql(f"CREATE DATABASE {drill.DATABASE}", "postgres")
    available = live.sql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'", "postgres"
    )
    hypertable = available != "0"
    live.sql(drill.setup_sql(hypertable))
    return hypertable


def _wait_archived(live: Live, segment: str) -> None:
    deadline = time.monotonic() + ARCHIVE_WAIT_SECONDS
    while time.monotonic() < deadline:
        archived = live.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if archived[:24] >= segment:  # same timeline: WAL names sort in LSN order
            return
        time.sleep(1)
    raise RunbookError(f"{host.name}: WAL {segment} not archived within {ARCHIVE_WAIT_SECONDS}s")


def _port_free(port: int) -> None:
    listening = run("ss -Hltn", "list listening ports")
    if any(line.split()[3].endswith(f":{port}") for line in listening.splitlines() if line):
        raise RunbookError(f"{host.name}: scratch port {port} is in use; pass --data drill_port=N")


def _write(path: str, content: str) -> None:
    run(
        f"runuser -u postgres -- sh -c {shlex.quote(f'cat > {path}')} <<'TIMESTACK_EOF'\n"
        f"{content}TIMESTACK_EOF",
        f"write {path}",
    )


def restore_drill(spec: HostSpec, port: int, rows: int) -> None:
    pg, stanza = spec.postgres, spec.backup.stanza
    live = Live(spec)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    scratch = f"/var/lib/postgresql/timestack-drill-{run_id}"
    bin_dir = f"/usr/lib/postgresql/{pg.version}/bin"
    _port_free(port)
    hypertable = _prepare(live)

    live.sql(drill.insert_sql(run_id, "before", rows))
    live.sql("SELECT pg_switch_wal()")
    time.sleep(1)  # the target falls strictly between the two batches' commits
    target = live.sql("SELECT clock_timestamp()")
    time.sleep(1)
    live.sql(drill.insert_sql(run_id, "after", rows // 2))
    # Recovery must see a commit after the target to stop there: archive the WAL holding it.
    segment = live.sql("SELECT pg_walfile_name(pg_switch_wal())")
    _wait_archived(live, segment)
    expected = drill.Digest.parse(live.sql(drill.digest_sql(drill.as_of_target(run_id))))
    settings = dict(
        line.split("|", 1)
        for line in live.sql(
            "SELECT name, setting FROM pg_settings WHERE name IN ("
            + ",".join(f"'{n}'" for n in drill.COPIED_SETTINGS)
            + ")"
        ).splitlines()
    )
    state = stanza_info(config.DB_USER, stanza)
    # pgBackRest restores the newest backup that ended before the target time.
    target_at = datetime.fromisoformat(target)
    restored_from = [b for b in state.backups if not b.error and b.stopped < target_at]
    started = time.monotonic()
    try:
        run(f"install -d -o postgres -g postgres -m 0700 {scratch}", "create scratch directory")
        restore_command = (
            f'{config.BINARY} --stanza={stanza} --pg1-path={scratch} archive-get %f "%p"'
        )
        run(
            config.pgbackrest(
                config.DB_USER,
                stanza,
                f"--pg1-path={scratch}",
                "--type=time",
                shlex.quote(f"--target={target}"),
                "--target-action=promote",
                "--archive-mode=off",
                f"--tablespace-map-all={scratch}-tablespaces",
                shlex.quote(f"--recovery-option=restore_command={restore_command}"),
                "restore",
            ),
            "pgbackrest restore into the scratch directory",
        )
        _write(f"{scratch}/postgresql.conf", drill.scratch_conf(port, scratch, settings))
        _write(f"{scratch}/pg_hba.conf", drill.SCRATCH_HBA)
        _write(f"{scratch}/pg_ident.conf", "")
        run(
            f"runuser -u postgres -- {bin_dir}/pg_ctl -D {scratch} -l {scratch}.log "
            f"-w -t {PROMOTE_WAIT_SECONDS} start || {{ tail -n 30 {scratch}.log; exit 1; }}",
            "start the scratch cluster",
        )
        _wait_promoted(pg.version, scratch, port)
        recovered = time.monotonic() - started
        outcome = drill.Outcome(
            before_written=rows,
            after_written=rows // 2,
            before_restored=int(
                _scratch_sql(pg.version, scratch, port, drill.phase_count_sql(run_id, "before"))
            ),
            after_restored=int(
                _scratch_sql(pg.version, scratch, port, drill.phase_count_sql(run_id, "after"))
            ),
            live_as_of_target=expected,
            restored=drill.Digest.parse(
                _scratch_sql(pg.version, scratch, port, drill.digest_sql())
            ),
        )
    finally:
        run(
            f"runuser -u postgres -- {bin_dir}/pg_ctl -D {scratch} -m immediate stop "
            f">/dev/null 2>&1; rm -rf {scratch} {scratch}-tablespaces {scratch}.log",
            "stop and remove the scratch cluster",
        )
    facts = {
        "host, stanza": f"{host.name}, {stanza} (run {run_id})",
        "marker table": f"{drill.DATABASE}.{drill.TABLE}"
        + (" (hypertable)" if hypertable else " (plain table: no timescaledb)"),
        "backup used": restored_from[-1].label if restored_from else "(chosen by pgBackRest)",
        "target time": f"{target} (post-target WAL {segment} archived)",
        "scratch cluster": f"{scratch} port {port}: restored and promoted in {recovered:.1f} s, "
        "stopped and removed",
    }
    problems = outcome.problems()
    text = drill.report(outcome, facts, problems)
    # beside pyinfra's own report: stdout may be its --json
    print(f"\nRestore drill\n{text}\n", file=sys.stderr, flush=True)
    if problems:
        raise RunbookError(f"{host.name}: restore drill found {len(problems)} differences")
