"""Operations of the postgres role: each reads a fact and yields commands only for what differs.

When the cluster is offline at fact time (first deploy), the facts cannot tell; the operations
then yield idempotent SQL, so a run interrupted anywhere converges on the next one.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Mapping, Sequence

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand, operation

from roles.backup.runbook import reporting
from roles.once import read_once
from roles.pgclient import psql, run_sql_file, service_name
from roles.postgres import extensions as extension_plan
from roles.postgres import scram, upgrade_restart
from roles.postgres.facts import ExtensionVersions, PgRole, ReplicationSlots, Settings
from roles.postgres.restart import restart_paused
from roles.replaced_files import ReplacedFiles
from roles.spec import HostSpec
from roles.sql import quote_ident, quote_literal
from roles.units import same_value

Commands = Generator[StringCommand | FileUploadCommand | FunctionCommand, None, None]


@operation()
def cluster(
    version: int,
    cluster_name: str,
    data_directory: str,
    wal_directory: str | None,
    port: int,
    exists: bool,
) -> Commands:
    """Create the Debian cluster once (`exists`: pg_lsclusters has it, read by the role)."""
    name = cluster_name
    if exists:
        host.noop(f"cluster {version}/{name} exists in {data_directory}")
        return
    initdb = ["--data-checksums"]
    for directory in filter(None, (data_directory, wal_directory)):
        parent = directory.rstrip("/").rsplit("/", 1)[0] or "/"
        yield StringCommand(
            "install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", shlex.quote(parent)
        )
    if wal_directory:
        initdb.append(f"--waldir={shlex.quote(wal_directory)}")
    yield StringCommand(
        "pg_createcluster",
        str(version),
        shlex.quote(name),
        f"--datadir={shlex.quote(data_directory)}",
        # UTF-8 whatever the host's locale: a SQL_ASCII database cannot validate text.
        "--encoding=UTF8",
        "--locale=C.UTF-8",
        f"--port={port}",
        "--start-conf=auto",
        "--",
        *initdb,
    )


@operation()
def settings_in_effect(
    version: int, cluster: str, service: str, wanted: Mapping[str, str]
) -> Commands:
    """Reload when only reloadable settings differ from pg_settings; restart for postmaster
    settings (or a pending restart); nothing when all match."""
    current = read_once(Settings, version=version, cluster=cluster, names=tuple(wanted))
    if current is None:
        host.noop("cluster was offline: it starts with the written settings")
        return
    differ = sorted(
        name
        for name, value in wanted.items()
        if name not in current or not same_value(value, current[name].setting, current[name].unit)
    )
    # ALTER SYSTEM (postgresql.auto.conf) wins over conf.d: drift on a setting Timestack
    # manages is undone there. Values of one's own go in postgres.settings.
    by_alter_system = [
        name
        for name in differ
        if name in current and (current[name].sourcefile or "").endswith("postgresql.auto.conf")
    ]
    for name in by_alter_system:
        yield StringCommand(psql(version, cluster, f"ALTER SYSTEM RESET {quote_ident(name)}"))
    pending = sorted(name for name, row in current.items() if row.pending_restart)
    needs_restart = pending or [
        name for name in differ if name not in current or current[name].context == "postmaster"
    ]
    if needs_restart:
        yield StringCommand("systemctl", "restart", service)
    elif differ:
        yield StringCommand("systemctl", "reload", service)
    else:
        host.noop(f"all {len(wanted)} settings in effect")


@operation()
def restarted_for_upgrade(
    spec: HostSpec, standby: bool, turn: upgrade_restart.Turn, pgbouncer: bool
) -> Commands:
    """Restart a cluster whose postmaster still runs files an upgrade replaced, in its turn
    (standbys, then primaries: see upgrade_restart), pgBouncer paused around it. Called
    with `_serial`: one database host at a time."""
    pg = spec.postgres
    replaced = read_once(
        ReplacedFiles, unit=service_name(pg), under=upgrade_restart.binaries(pg.version)
    )
    decided = upgrade_restart.decide(replaced, standby, turn, pgbouncer, spec.pgbouncer.pool_mode)
    if isinstance(decided, str):
        host.noop(decided)
        return
    restart = {"spec": spec, "pause": decided.pause, "because": decided.because}
    yield FunctionCommand(reporting(restart_paused), (), restart)


@operation()
def role(
    version: int,
    cluster: str,
    role_name: str,
    login: bool,
    password: str | None,
    member_of: Sequence[str],
    current: Mapping[str, PgRole] | None,
    replication: bool = False,
) -> Commands:
    """Create or update a role; its password is compared and sent as a SCRAM verifier only.
    `current`: the Roles fact (None while the cluster is offline); `replication`: the role
    standbys stream as (REPLICATION)."""
    name = role_name
    found = current.get(name) if current is not None else None
    password_ok = password is None or (
        found is not None
        and found.scram_iterations is not None
        and found.scram_salt is not None
        and found.verifier_sha256 is not None
        and scram.matches(password, found.scram_iterations, found.scram_salt, found.verifier_sha256)
    )
    missing_groups = sorted(set(member_of) - (found.member_of if found else frozenset()))
    if (
        found is not None
        and (found.login, found.replication) == (login, replication)
        and password_ok
        and not missing_groups
    ):
        host.noop(f"role {name} is as specified")
        return
    verifier = scram.verifier(password) if not password_ok and password is not None else None
    sql = role_sql(name, login, verifier, missing_groups, replication)
    yield from run_sql_file(version, cluster, sql, f"role-{name}")


def role_sql(
    name: str,
    login: bool,
    verifier: str | None,
    missing_groups: Sequence[str],
    replication: bool = False,
) -> str:
    """The script `role` runs in one transaction; `verifier` is set as the password."""
    statements = [
        # pg_stat_statements keeps the text of every statement it tracks in a file and shows
        # it to pg_read_all_stats (monitoring) roles: not this script's, it carries a verifier.
        "SET LOCAL pg_stat_statements.track = 'none';",
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"{quote_literal(name)}) THEN CREATE ROLE {quote_ident(name)}; END IF; END$$;",
        f"ALTER ROLE {quote_ident(name)} {'LOGIN' if login else 'NOLOGIN'} "
        f"{'REPLICATION' if replication else 'NOREPLICATION'};",
    ]
    if verifier is not None:
        statements.append(f"ALTER ROLE {quote_ident(name)} PASSWORD {quote_literal(verifier)};")
    statements += [
        f"GRANT {quote_ident(group)} TO {quote_ident(name)};" for group in missing_groups
    ]
    return "\n".join(statements) + "\n"


@operation()
def database(
    version: int, cluster: str, database: str, owner: str, current: Mapping[str, str] | None
) -> Commands:
    """Create the database, or give it its owner. `current`: the Databases fact."""
    name = database
    databases = current
    if databases is not None and databases.get(name) == owner:
        host.noop(f"database {name} exists, owned by {owner}")
        return
    if databases is not None and name in databases:
        yield StringCommand(
            psql(
                version,
                cluster,
                f"ALTER DATABASE {quote_ident(name)} OWNER TO {quote_ident(owner)}",
            )
        )
        return
    exists = psql(
        version, cluster, f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(name)}"
    )
    create = psql(
        version, cluster, f"CREATE DATABASE {quote_ident(name)} OWNER {quote_ident(owner)}"
    )
    yield StringCommand(f"{exists} | grep -q 1 || {create}")


@operation()
def extensions(version: int, cluster: str, database: str, names: Sequence[str]) -> Commands:
    """Create the extensions `names` lacks in `database`, at their default versions."""
    found = read_once(ExtensionVersions, version=version, cluster=cluster)
    installed = {e.name for e in found or () if e.database == database}
    missing = [n for n in names if n not in installed]
    if not missing:
        host.noop(f"extensions in {database}: {', '.join(names) or 'none wanted'}")
        return
    sql = "; ".join(f"CREATE EXTENSION IF NOT EXISTS {quote_ident(n)} CASCADE" for n in missing)
    yield StringCommand(psql(version, cluster, sql, database))


@operation()
def extension_updates(version: int, cluster: str) -> Commands:
    """Bring every extension in every database to the default version its package ships
    now (on a primary: standbys replay it), TimescaleDB first, in a session of its own."""
    found = read_once(ExtensionVersions, version=version, cluster=cluster)
    if found is None:
        host.noop("cluster was offline: extensions are created at their default versions")
        return
    sessions = extension_plan.update_sessions(found)
    if not sessions:
        databases = len({e.database for e in found})
        host.noop(f"{len(found)} extensions in {databases} databases at their default versions")
        return
    for session in sessions:
        yield StringCommand(psql(version, cluster, session.sql, session.database))


@operation()
def replication_slots(version: int, cluster: str, wanted: Sequence[str], prefix: str) -> Commands:
    """One physical slot per standby, reserving WAL from now on; an inactive slot with
    Timestack's `prefix` that no standby names any more is dropped (it would keep WAL
    forever). An active one is left, for the operator to stop its standby first."""
    current = host.get_fact(ReplicationSlots, version=version, cluster=cluster) or {}
    missing = [name for name in wanted if name not in current]
    stale = [n for n, active in current.items() if n.startswith(prefix) and n not in wanted]
    if not missing and not [n for n in stale if not current[n]]:
        host.noop(f"replication slots: {', '.join(wanted) or 'none wanted'}")
        return
    for name in missing:
        yield StringCommand(
            psql(
                version,
                cluster,
                "SELECT pg_create_physical_replication_slot(slot_name, true) FROM "
                f"(SELECT {quote_literal(name)}::name AS slot_name) s WHERE NOT EXISTS "
                "(SELECT FROM pg_replication_slots r WHERE r.slot_name = s.slot_name)",
            )
        )
    for name in stale:
        if not current[name]:
            yield StringCommand(
                psql(version, cluster, f"SELECT pg_drop_replication_slot({quote_literal(name)})")
            )
