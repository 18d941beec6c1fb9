"""pgBackRest: configuration, TLS transport, stanza, first full backup and backup timers."""

from __future__ import annotations

from collections.abc import Mapping
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta

from roles import managed_files, managed_units, packages, tls_files
from roles.backup import config, operations
from roles.backup.config import Layout
from roles.common.facts import platform
from roles.once import read_once
from roles.paths import TlsPaths
from roles.pgclient import StandbySignal, service_name
from roles.spec import HostSpec
from roles.system_accounts import system_account
from roles.templating import render, rendered_file
from roles.unit_files import UNIT_DIR, reload_units, restart_on_change, unit_file

DROP_IN = f"{UNIT_DIR}/{config.SERVER_SERVICE}.service.d/50-timestack.conf"


@deploy("pgBackRest backups")
def apply(spec: HostSpec, inventory_specs: Mapping[str, HostSpec]) -> None:
    lay = config.layout(spec, inventory_specs.values())
    user = lay.os_user
    if lay.database and spec.backup.repo_type == "posix_local":
        logger.warning(
            f"{host.name}: backup.repo_type posix_local keeps the backups on the database "
            "host itself: a lost disk or host takes them along. Use a repository host "
            "(group pgbackrest_repo) or s3 for backups that survive the host."
        )
    packages.installed(
        name="Install pgBackRest", packages=[config.PACKAGE], pins=config.pins(spec.backup)
    )
    if lay.repository_host:
        system_account(
            name="pgbackrest system user and group (own the repository)",
            user=user,
            group=user,
            home=spec.backup.repo_path,
        )
    _directories(spec, lay)
    conf = _config(spec, lay, inventory_specs)
    if lay.tls_server:
        _tls_server(spec, lay, changed=[conf])
    if lay.runs_backups:
        for stanza in lay.stanzas:
            operations.stanza_ready(
                name=f"Stanza {stanza}: created, WAL archived, a full backup",
                user=user,
                stanza=stanza,
            )
    if lay.database and spec.postgres.upstream is not None:
        # After the repository host's stanza step: its first full backup exists by now.
        operations.standby_restored(
            name=f"Standby restored from the latest backup of stanza {spec.backup.stanza}",
            stanza=spec.backup.stanza,
            service=service_name(spec.postgres),
            built=read_once(StandbySignal, data_directory=spec.postgres.data_dir),
        )
    _timers(spec, lay)


def _directories(spec: HostSpec, lay: Layout) -> None:
    user = lay.os_user
    owned = {config.CONF_DIR: "configuration", config.LOG_PATH: "logs"}
    if lay.repository_host or spec.backup.repo_type == "posix_local":
        owned[spec.backup.repo_path] = "repository"
    if lay.database:
        owned[config.SPOOL_PATH] = "asynchronous archiving spool"
    if lay.tls_server:
        owned[config.TLS_DIR] = "TLS key and certificates"
    for path, what in owned.items():
        managed_files.directory(
            name=f"pgBackRest {what} directory", path=path, user=user, group=user, mode="0750"
        )


def _config(spec: HostSpec, lay: Layout, inventory_specs: Mapping[str, HostSpec]) -> OperationMeta:
    cpus = platform().cpus
    if lay.database:
        holder = config.repository_holder(spec, inventory_specs)
        conf = config.database_conf(spec, holder, cpus)
        role = f"database host, stanza {spec.backup.stanza}, repository {spec.backup.repo_type}"
    else:
        served = config.clients(spec, inventory_specs.values())
        conf = config.repository_conf(spec, served, cpus)
        role = f"repository host for {', '.join(s.name for s in served) or 'no database host'}"
    # S3 keys live in this file: handled as a secret (never diffed into the output).
    return managed_files.put(
        name="pgbackrest.conf",
        src=StringIO(render("backup/pgbackrest.conf.j2", role=role, conf=conf)),
        dest=config.CONF,
        user=lay.os_user,
        group=lay.os_user,
        mode="0640",
        secret=True,
    )


def _tls_server(spec: HostSpec, lay: Layout, changed: list[OperationMeta]) -> None:
    user = lay.os_user
    paths = TlsPaths(config.TLS_CA, config.TLS_CERT, config.TLS_KEY)
    # TLS_DIR is made with the role's other directories; a renewed certificate restarts the
    # server below (pgBackRest reads its TLS files as it starts).
    changed += tls_files.installed(spec, paths, user, "pgBackRest", directory=False)
    managed_files.directory(
        name="pgBackRest server drop-in directory", path=DROP_IN.rsplit("/", 1)[0]
    )
    drop_in = unit_file(
        name="pgBackRest server runs as its owner",
        dest=DROP_IN,
        src=rendered_file("backup/server.conf.j2", user=user, owns=_owns(lay)),
        reload="Load the pgBackRest server drop-in",
    )
    managed_units.service(
        name="pgBackRest TLS server running and enabled",
        service=config.SERVER_SERVICE,
        running=True,
        enabled=True,
    )
    restart_on_change(
        "Restart the pgBackRest TLS server for its new configuration",
        config.SERVER_SERVICE,
        [*changed, drop_in],
    )


def _owns(lay: Layout) -> str:
    return "the repository" if lay.repository_host else "the PostgreSQL data directory"


def _timers(spec: HostSpec, lay: Layout) -> None:
    wanted = config.timers(spec, lay)
    units = []
    for timer in wanted:
        for kind in ("service", "timer"):
            units.append(
                managed_files.put(
                    name=f"Unit {timer.unit}.{kind}",
                    dest=f"{UNIT_DIR}/{timer.unit}.{kind}",
                    src=rendered_file(
                        f"backup/backup.{kind}.j2", timer=timer, binary=config.BINARY
                    ),
                )
            )
    unscheduled = [
        f"timestack-backup-{stanza}-{kind}"
        for stanza in lay.stanzas
        for kind in config.BACKUP_TYPES
        if lay.runs_backups and kind not in {t.type for t in wanted if t.stanza == stanza}
    ]
    for unit in unscheduled:
        managed_units.service(
            name=f"{unit}.timer stopped (not scheduled)",
            service=f"{unit}.timer",
            running=False,
            enabled=False,
        )
        for kind in ("service", "timer"):
            units.append(
                managed_files.absent(
                    name=f"No unit {unit}.{kind}", path=f"{UNIT_DIR}/{unit}.{kind}"
                )
            )
    reload_units("Load the changed backup units", units)
    for timer in wanted:
        managed_units.service(
            name=f"{timer.unit}.timer enabled and active",
            service=f"{timer.unit}.timer",
            running=True,
            enabled=True,
        )
