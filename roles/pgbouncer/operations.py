"""Operations of the pgbouncer role."""

from __future__ import annotations

from collections.abc import Generator, Mapping

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation

from roles.once import read_once
from roles.pgbouncer import config
from roles.pgbouncer.facts import LookupFunction, RunningConfig
from roles.pgclient import run_sql_file
from roles.replaced_files import ReplacedFiles

Commands = Generator[StringCommand | FileUploadCommand, None, None]


@operation()
def config_in_effect(wanted: Mapping[str, str]) -> Commands:
    """Reload when settings differ from SHOW CONFIG; restart when a listen setting does."""
    running = read_once(RunningConfig)
    if running is None:
        host.noop("pgBouncer was not answering: it starts with the written configuration")
        return
    differ = sorted(
        key for key, value in wanted.items() if not config.same_value(value, running.get(key))
    )
    if any(key in config.LISTEN_KEYS for key in differ):
        yield StringCommand("systemctl", "restart", config.SERVICE)
    elif differ:
        yield StringCommand("systemctl", "reload", config.SERVICE)
    else:
        host.noop(f"all {len(wanted)} settings in effect")


@operation()
def restarted_for_upgrade() -> Commands:
    """Restart pgBouncer when it still runs a binary an upgrade replaced. A plain restart:
    the unit stops it with SIGINT (safe shutdown: running transactions finish), its clients
    then reconnect. Its online restart (-R) is deprecated since 1.20 and does not work
    under systemd's supervision (Type=notify)."""
    replaced = read_once(ReplacedFiles, unit=config.SERVICE, under=config.BINARY)
    if replaced is None:
        host.noop("pgBouncer is not running: it starts with the installed binary")
    elif not replaced:
        host.noop("pgBouncer runs the installed binary")
    else:
        yield StringCommand("systemctl", "restart", config.SERVICE)


@operation()
def lookup_function(version: int, cluster: str, database: str, auth_user: str) -> Commands:
    """The auth_query role and SECURITY DEFINER function in `database`, current by marker."""
    marker = config.lookup_marker(auth_user)
    if host.get_fact(LookupFunction, version=version, cluster=cluster, database=database) == marker:
        host.noop(f"password lookup in {database} is current")
        return
    sql = (
        config.lookup_sql(auth_user)
        + f"COMMENT ON FUNCTION {config.LOOKUP_SCHEMA}.get_auth(text) IS '{marker}';\n"
    )
    yield from run_sql_file(version, cluster, sql, f"pgbouncer-lookup-{database}", database)
