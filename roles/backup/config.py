"""What the backup role wants, as pure data: who does what, pgbackrest.conf, timers, WAL settings.

Three kinds of host (see `layout`):
- a database host (group timescaledb) archives its WAL with `archive-push`. With repo_type
  posix it reaches the repository host over TLS and runs a pgBackRest TLS server itself,
  which the repository host's backups connect to; with posix_local or s3 it holds the
  repository settings and runs its own backups.
- a repository host (group pgbackrest_repo) keeps the repository, runs a TLS server for the
  database hosts' archive-push/archive-get/restore, and runs the backups of every database
  host that names it as backup.repo_host (one stanza section per stanza, pg1..pgN inside).
- the host that runs the backups ("backup runner") also runs stanza-create, check and timers.

Repository settings (path, retention, compression, schedule) are read from the host that
holds the repository, so the two sides cannot disagree. No pyinfra here: the deploy, the
ops runbooks and the verify suite all call these functions.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from roles.pins import Pin
from roles.spec import BackupSpec, HostSpec, host_address

CONF_DIR = "/etc/pgbackrest"
CONF = f"{CONF_DIR}/pgbackrest.conf"
TLS_DIR = f"{CONF_DIR}/tls"
TLS_CA, TLS_CERT, TLS_KEY = f"{TLS_DIR}/ca.crt", f"{TLS_DIR}/host.crt", f"{TLS_DIR}/host.key"
SPOOL_PATH = "/var/spool/pgbackrest"
LOG_PATH = "/var/log/pgbackrest"
BINARY = "/usr/bin/pgbackrest"
DB_USER = "postgres"  # archive_command and the database host's TLS server run as PostgreSQL
REPO_USER = "pgbackrest"  # owns a dedicated repository, as pgBackRest's user guide advises
SERVER_SERVICE = "pgbackrest"  # the unit Debian ships; a drop-in sets its user
# Bounds what a quiet database can lose: a WAL segment is closed and archived at least this
# often when anything was written (an idle server switches nothing).
ARCHIVE_TIMEOUT = "5min"
BACKUP_TYPES = ("full", "diff", "incr")

Section = list[tuple[str, str]]  # pgbackrest.conf allows a key more than once (tls-server-auth)
Conf = dict[str, Section]


def address(spec: HostSpec) -> str:
    """The name peers dial for this host's TLS server: backup.address, else the inventory
    name without its connector prefix (@docker/ts-db1 -> ts-db1)."""
    return spec.backup.address or host_address(spec.name)


@dataclass(frozen=True)
class Layout:
    database: bool
    repository_host: bool  # a dedicated repository host (group pgbackrest_repo)
    runs_backups: bool  # stanza-create, check, backups and timers run on this host
    tls_server: bool
    os_user: str  # runs pgBackRest here (owns config secrets, logs, the repository)
    stanzas: tuple[str, ...]


def clients(repo: HostSpec, specs: Iterable[HostSpec]) -> list[HostSpec]:
    """Database hosts that keep their backups on the repository host `repo`, inventory order."""
    return [
        s
        for s in specs
        if "timescaledb" in s.groups
        and s.backup.repo_type == "posix"
        and s.backup.repo_host == repo.name
    ]


def layout(spec: HostSpec, specs: Iterable[HostSpec]) -> Layout:
    database = "timescaledb" in spec.groups
    if database:
        remote = spec.backup.repo_type == "posix"
        # A standby never runs stanza steps or backup timers (its primary's repository does).
        runs = not remote and spec.postgres.upstream is None
        return Layout(True, False, runs, remote, DB_USER, (spec.backup.stanza,))
    served = clients(spec, specs)
    stanzas = tuple(dict.fromkeys(s.backup.stanza for s in served))
    return Layout(False, True, bool(served), bool(served), REPO_USER, stanzas)


def repository_holder(spec: HostSpec, specs: Mapping[str, HostSpec]) -> HostSpec:
    """The host whose backup data describes the repository of `spec`'s stanza."""
    if "timescaledb" in spec.groups and spec.backup.repo_type == "posix":
        assert spec.backup.repo_host, "roles.spec.checks requires repo_host for posix"
        return specs[spec.backup.repo_host]
    return spec


def process_max(cpus: int) -> int:
    """Parallel compression/transfer processes: half the cores (the rest stay with PostgreSQL
    during a backup), at least 1, at most 8 (beyond that the disk or network is the limit)."""
    return max(1, min(8, cpus // 2))


def archive_settings(backup: BackupSpec) -> dict[str, str]:
    """PostgreSQL settings that send every WAL segment to pgBackRest (archive_mode needs a
    restart; the postgres role's settings operation restarts for it)."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"{BINARY} --stanza={backup.stanza} archive-push %p",
        "archive_timeout": ARCHIVE_TIMEOUT,
    }


def _repository(backup: BackupSpec) -> Section:
    options: Section = []
    if backup.repo_type == "s3":
        assert backup.s3, "roles.spec.checks requires backup.s3 for repo_type s3"
        key, secret = backup.s3.credentials()
        options += [
            ("repo1-type", "s3"),
            ("repo1-s3-bucket", backup.s3.bucket),
            ("repo1-s3-region", backup.s3.region),
            ("repo1-s3-endpoint", backup.s3.endpoint or f"s3.{backup.s3.region}.amazonaws.com"),
            ("repo1-s3-key", key),
            ("repo1-s3-key-secret", secret),
        ]
    return [
        *options,
        ("repo1-path", backup.repo_path),
        ("repo1-retention-full", str(backup.retention_full)),
        ("repo1-retention-diff", str(backup.retention_diff)),
    ]


def _tls_server(backup: BackupSpec, authorized: Sequence[tuple[str, str]]) -> Section:
    """This host's TLS server; `authorized` = (peer CN, stanza) pairs it accepts."""
    peers: dict[str, list[str]] = {}
    for common_name, stanza in authorized:
        peers.setdefault(common_name, []).append(stanza)
    return [
        ("tls-server-address", backup.tls_listen_address),
        ("tls-server-port", str(backup.tls_port)),
        ("tls-server-ca-file", TLS_CA),
        ("tls-server-cert-file", TLS_CERT),
        ("tls-server-key-file", TLS_KEY),
        *(
            ("tls-server-auth", f"{cn}={','.join(dict.fromkeys(stanzas))}")
            for cn, stanzas in peers.items()
        ),
    ]


def _tls_client(prefix: str, peer: HostSpec, port: int) -> Section:
    return [
        (f"{prefix}-host", address(peer)),
        (f"{prefix}-host-type", "tls"),
        (f"{prefix}-host-port", str(port)),
        (f"{prefix}-host-ca-file", TLS_CA),
        (f"{prefix}-host-cert-file", TLS_CERT),
        (f"{prefix}-host-key-file", TLS_KEY),
    ]


def _common(backup: BackupSpec, cpus: int) -> Section:
    return [
        ("compress-type", backup.compress_type),
        ("process-max", str(process_max(cpus))),
        ("log-path", LOG_PATH),
        ("log-level-file", "detail"),
    ]


def database_conf(spec: HostSpec, holder: HostSpec, cpus: int) -> Conf:
    """pgbackrest.conf of a database host; `holder` = repository_holder(spec, ...)."""
    own, repo = spec.backup, holder.backup
    glob: Section = []
    if own.repo_type == "posix":
        glob += _tls_client("repo1", holder, repo.tls_port)
        glob += [("repo1-path", repo.repo_path)]
    else:
        glob += _repository(own)
    glob += _common(repo, cpus)
    # Asynchronous archive-push: PostgreSQL's archiver hands segments to a background
    # process that sends several at once from the spool, so a slow link does not stall it.
    glob += [("archive-async", "y"), ("spool-path", SPOOL_PATH)]
    if own.repo_type == "posix":
        glob += _tls_server(own, [(address(holder), own.stanza)])
    pg = spec.postgres
    return {
        "global": glob,
        own.stanza: [("pg1-path", pg.data_dir), ("pg1-port", str(pg.port))],
    }


def repository_conf(repo: HostSpec, served: Sequence[HostSpec], cpus: int) -> Conf:
    """pgbackrest.conf of a repository host serving the database hosts `served`."""
    glob = [
        *_repository(repo.backup),
        *_common(repo.backup, cpus),
        # pgBackRest backs up from the primary among pg1..pgN and refuses when none is one:
        # the timers can never take a backup from a replica (backup-standby stays off).
        ("backup-standby", "n"),
        *_tls_server(repo.backup, [(address(db), db.backup.stanza) for db in served]),
    ]
    conf: Conf = {"global": glob}
    hosts_in: dict[str, int] = {}
    for db in served:
        section = conf.setdefault(db.backup.stanza, [])
        index = hosts_in[db.backup.stanza] = hosts_in.get(db.backup.stanza, 0) + 1
        section += _tls_client(f"pg{index}", db, db.backup.tls_port)
        section += [
            (f"pg{index}-path", db.postgres.data_dir),
            (f"pg{index}-port", str(db.postgres.port)),
        ]
    return conf


@dataclass(frozen=True)
class Timer:
    stanza: str
    type: str  # full | diff | incr
    on_calendar: str
    user: str
    # Shell test that must succeed or the run is skipped (systemd ExecCondition); None when
    # pgBackRest itself refuses a replica (repository host, backup-standby=n).
    condition: str | None

    @property
    def unit(self) -> str:
        return f"timestack-backup-{self.stanza}-{self.type}"


def primary_condition(spec: HostSpec) -> str:
    """Succeeds only on a primary: on a replica the division fails, psql exits 1 and systemd
    skips the run (ExecCondition); no shell, so no quoting between systemd and sh."""
    sql = "SELECT 1 / (NOT pg_is_in_recovery())::int"
    return f'/usr/bin/psql -XAtq -p {spec.postgres.port} -d postgres -c "{sql}"'


def timers(spec: HostSpec, lay: Layout) -> list[Timer]:
    """The backup timers this host runs: full, diff and (when scheduled) incr per stanza."""
    if not lay.runs_backups:
        return []
    schedule = spec.backup.schedule
    calendars = {"full": schedule.full, "diff": schedule.diff, "incr": schedule.incr}
    condition = primary_condition(spec) if lay.database else None
    return [
        Timer(stanza, kind, calendar, lay.os_user, condition)
        for stanza in lay.stanzas
        for kind, calendar in calendars.items()
        if calendar
    ]


def as_user(user: str, command: str) -> str:
    return f"runuser -u {user} -- {command}"


def pgbackrest(user: str, stanza: str | None, *args: str) -> str:
    """A pgbackrest command line as `user` (never carries a secret: those are in the conf)."""
    parts = [BINARY, *([f"--stanza={shlex.quote(stanza)}"] if stanza else []), *args]
    return as_user(user, " ".join(parts))


PACKAGE = "pgbackrest"


def pins(backup: BackupSpec) -> list[Pin]:
    return [Pin("backup.version", backup.version, (PACKAGE,))]
