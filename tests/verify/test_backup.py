"""Checks for pgBackRest backups: WAL archiving on the database hosts (group timescaledb),
the repository and its timers where backups run (group pgbackrest_repo, or a database host
with a local or S3 repository)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roles.backup import config, info
from roles.backup.config import Layout
from roles.pgclient import psql
from roles.spec import HostSpec
from roles.units import parse_duration_ms
from tests.verify.targets import load_targets

DB = pytest.mark.group("timescaledb")
REPO = pytest.mark.group("pgbackrest_repo")
# A full backup may start late (host down: Persistent= runs it at boot) and takes a while.
FULL_BACKUP_MARGIN = timedelta(hours=12)


@pytest.fixture(scope="module")
def layout(spec: HostSpec, pytestconfig: pytest.Config) -> Layout:
    """What this host does for backups; hosts in neither group have nothing to check."""
    if not {"timescaledb", "pgbackrest_repo"} & spec.groups:
        pytest.skip("not a database or repository host")
    specs = [t.spec for t in load_targets(pytestconfig.getoption("--inventory"))]
    return config.layout(spec, specs)


def sql(host: Any, spec: HostSpec, query: str) -> list[str]:
    pg = spec.postgres
    return str(host.check_output(psql(pg.version, pg.cluster, query))).split("|")


def stanza(host: Any, lay: Layout, name: str) -> info.StanzaInfo:
    output = host.check_output(config.pgbackrest(lay.os_user, name, "--output=json", "info"))
    found = info.parse(output).get(name)
    assert found is not None, f"pgbackrest info does not know stanza {name}"
    return found


@DB
def test_archive_mode_and_command(host: Any, spec: HostSpec) -> None:
    wanted = config.archive_settings(spec.backup)
    for name in ("archive_mode", "archive_command", "wal_level"):
        (actual,) = sql(host, spec, f"SHOW {name}")
        assert actual == wanted[name], f"{name} is {actual!r}, expected {wanted[name]!r}"


@DB
def test_archiver_is_not_failing(host: Any, spec: HostSpec) -> None:
    """No archive failure since the last success. A first deploy starts PostgreSQL with
    archive_mode on before the repository answers; those early segments fail and are
    retried, so failed_count alone would report setup noise forever."""
    failing, failed, last_failed, reset = sql(
        host,
        spec,
        "SELECT failed_count > 0 AND (last_archived_time IS NULL "
        "OR last_failed_time >= last_archived_time), failed_count, "
        "coalesce(last_failed_wal || ' at ' || last_failed_time, ''), stats_reset "
        "FROM pg_stat_archiver",
    )
    assert failing == "f", (
        f"archive_command is failing: {failed} failures since {reset} (last: {last_failed}), "
        "none archived since; see the PostgreSQL log and /var/log/pgbackrest"
    )


@DB
def test_last_archived_wal_is_recent(host: Any, spec: HostSpec) -> None:
    """Nothing waits to be archived for longer than archive_timeout plus a minute."""
    if spec.postgres.upstream is not None:
        pytest.skip(f"a standby: its primary {spec.postgres.upstream} archives the WAL")
    limit_s = parse_duration_ms(config.ARCHIVE_TIMEOUT) / 1000 + 60
    last, waiting, oldest = sql(
        host,
        spec,
        "SELECT coalesce(last_archived_wal, ''), count(s.*), "
        "coalesce(extract(epoch FROM now() - min(s.modification))::int, 0) "
        "FROM pg_stat_archiver LEFT JOIN pg_ls_archive_statusdir() s ON s.name LIKE '%.ready' "
        "GROUP BY last_archived_wal",
    )
    assert last, "no WAL segment was ever archived"
    assert int(oldest) <= limit_s, f"{waiting} segments wait to be archived, oldest {oldest}s"


@DB
def test_stanza_status_ok_from_the_database_host(host: Any, spec: HostSpec) -> None:
    state = stanza(host, Layout(True, False, False, False, config.DB_USER, ()), spec.backup.stanza)
    assert state.ok, info.summary(state)


@DB
def test_spool_and_config_owned_by_postgres(host: Any) -> None:
    conf = host.file(config.CONF)
    assert (conf.user, conf.mode & 0o027) == (config.DB_USER, 0), (
        f"{config.CONF}: {conf.user} {oct(conf.mode)}, expected postgres and 0640 or stricter"
    )
    spool = host.file(config.SPOOL_PATH)
    assert spool.is_directory and spool.user == config.DB_USER


def test_tls_key_private_and_server_running(host: Any, layout: Layout) -> None:
    if not layout.tls_server:
        pytest.skip("no pgBackRest TLS server on this host (local or S3 repository)")
    key = host.file(config.TLS_KEY)
    assert key.user == layout.os_user and key.mode == 0o600, (
        f"{config.TLS_KEY}: {key.user} {oct(key.mode)}, expected {layout.os_user} 0600"
    )
    server = host.service(config.SERVER_SERVICE)
    assert server.is_running and server.is_enabled, "the pgBackRest TLS server is not running"


def _runner(layout: Layout) -> None:
    if not layout.runs_backups:
        pytest.skip("backups of this host's stanza run on its repository host")


def test_repository_and_config_owned_and_private(host: Any, spec: HostSpec, layout: Layout) -> None:
    _runner(layout)
    for path in (spec.backup.repo_path, config.CONF):
        if spec.backup.repo_type == "s3" and path == spec.backup.repo_path:
            continue
        found = host.file(path)
        assert found.user == layout.os_user, f"{path} owned by {found.user}"
        assert found.mode & 0o027 == 0, f"{path} mode {oct(found.mode)}: 0750/0640 or stricter"


def test_stanzas_ok_on_the_repository(host: Any, layout: Layout) -> None:
    _runner(layout)
    for name in layout.stanzas:
        state = stanza(host, layout, name)
        assert state.ok, info.summary(state)


def test_backup_timers_active_and_listed(host: Any, spec: HostSpec, layout: Layout) -> None:
    _runner(layout)
    listed = host.check_output("systemctl list-timers --all --no-legend")
    for timer in config.timers(spec, layout):
        unit = host.service(f"{timer.unit}.timer")
        assert unit.is_running and unit.is_enabled, f"{timer.unit}.timer is not active+enabled"
        assert f"{timer.unit}.timer" in listed, f"{timer.unit}.timer not in list-timers"


def _period(host: Any, calendar: str) -> timedelta:
    """Time between two elapses of an OnCalendar expression, as systemd computes them."""
    output = host.check_output(f"systemd-analyze calendar --iterations=2 '{calendar}'")
    stamps = [
        datetime.strptime(" ".join(line.split()[-3:-1]), "%Y-%m-%d %H:%M:%S")
        for line in output.splitlines()
        if "Next elapse" in line or "#2:" in line
    ]
    assert len(stamps) == 2, f"systemd-analyze calendar output not understood:\n{output}"
    return stamps[1] - stamps[0]


def test_newest_full_backup_within_its_schedule(host: Any, spec: HostSpec, layout: Layout) -> None:
    _runner(layout)
    allowed = _period(host, spec.backup.schedule.full) + FULL_BACKUP_MARGIN
    for name in layout.stanzas:
        full = stanza(host, layout, name).last_full
        assert full is not None, f"stanza {name} has no full backup"
        age = datetime.now(UTC) - full.stopped
        assert age <= allowed, f"newest full backup {full.label} is {age} old; allowed {allowed}"
