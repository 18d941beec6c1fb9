"""PostgreSQL + TimescaleDB: packages, the cluster, tuned settings, pg_hba, roles, databases."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from io import BytesIO, StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt, files

from roles import managed_files, managed_units, packages, tls_files
from roles.common.facts import Hardware, platform
from roles.hardware import DetectedHardware
from roles.once import read_once
from roles.pgclient import service_name
from roles.postgres import config, operations, replication, standby, upgrade_restart
from roles.postgres.facts import Cluster, Clusters, Databases, Roles
from roles.postgres.tuning import InvalidHardware, Setting
from roles.refusal import Refusal
from roles.spec import FieldError, HbaRule, HostSpec, PostgresSpec
from roles.spec.topology import SLOT_PREFIX
from roles.templating import rendered_file

MIB = 1024**2


class ClusterDownError(PyinfraError):
    """The cluster is down and has run before; raised before any host is changed."""


def existing_cluster(spec: HostSpec) -> Cluster | None:
    """This host's cluster as pg_lsclusters knows it, read once while preparing; refused
    here, before anything runs, when it is someone else's to fix."""
    pg = spec.postgres
    found = next(
        (c for c in read_once(Clusters) if (c.version, c.name) == (pg.version, pg.cluster)),
        None,
    )
    if found is None:
        return None
    if found.state == "down":
        # A cluster someone stopped (maintenance, a crash, a full disk) is theirs to start:
        # starting it behind their back, or planning SQL against a database that cannot
        # answer, would both be wrong.
        unit = service_name(pg)
        raise ClusterDownError(
            f"{host.name}: PostgreSQL cluster {pg.version}/{pg.cluster} is down, and it has run "
            f"before; Timestack does not start a cluster someone stopped. Find out why "
            f"(journalctl -u {unit}), start it (systemctl start {unit}), then deploy again. "
            "No host was changed."
        )
    if found.data_directory.rstrip("/") != pg.data_dir.rstrip("/"):
        raise Refusal(
            FieldError(
                host.name,
                "postgres.data_directory",
                pg.data_dir,
                f"{found.data_directory}, where cluster {pg.version}/{pg.cluster} lives: "
                "Timestack never moves data (move it with pg_renamecluster/pg_upgradecluster, "
                "or set data_directory to the current path)",
            )
        )
    return found


@deploy("PostgreSQL + TimescaleDB")
def apply(spec: HostSpec, groups: Collection[str], inventory_specs: Mapping[str, HostSpec]) -> None:
    pg = spec.postgres
    existing = existing_cluster(spec)
    repl = standby.prepare(spec, inventory_specs, existing)
    _package_sources(spec)
    managed_files.directory(
        name="postgresql-common drop-in directory", path="/etc/postgresql-common/createcluster.d"
    )
    managed_files.put(
        name="Do not let the package create a cluster",
        dest="/etc/postgresql-common/createcluster.d/50-timestack.conf",
        src=rendered_file("postgres/createcluster.conf.j2"),
    )
    packages.installed(
        name="Install PostgreSQL and TimescaleDB",
        packages=config.packages(pg),
        pins=config.pins(pg),
    )
    operations.cluster(
        name="Create the cluster",
        version=pg.version,
        cluster_name=pg.cluster,
        data_directory=pg.data_dir,
        wal_directory=pg.wal_directory,
        port=pg.port,
        exists=existing is not None,
    )
    # Before the settings that name them: a cluster (re)started with them must find them.
    tls = tls_files.installed(spec, config.TLS, "postgres", "PostgreSQL")

    detected = read_once(Hardware, data_directory=pg.data_dir, wal_directory=pg.wal_directory)
    try:
        desired = config.desired_settings(spec, groups, detected)
    except InvalidHardware as error:
        raise Refusal(config.refusal(host.name, error)) from None
    desired = dataclasses.replace(desired, base={**desired.base, **repl.settings})
    standby.check_hot_standby(spec, inventory_specs, desired.effective())
    conf_d = f"{config.conf_dir(pg)}/conf.d"
    managed_files.directory(name="conf.d directory", path=conf_d, user="postgres", group="postgres")
    base_settings_file(pg, desired.base)
    hardware, reserve = desired.hardware, desired.reserve
    _conf_file(
        "Tuned settings",
        f"{conf_d}/50-timestack-tuning.conf",
        _settings_file(
            "Computed from this host's hardware by roles/postgres/tuning.py",
            desired.tuned,
            preamble=[
                f"memory {hardware.memory_bytes // MIB}MB, cpus {hardware.cpus}, "
                f"disk {hardware.disk}, PostgreSQL {hardware.pg_version}",
                f"reserved for co-located services: {hardware.reserve_bytes // MIB}MB "
                f"({', '.join(reserve.reasons) or 'none'})",
                *_detection_notes(spec, detected),
            ],
        ),
    )
    _conf_file(
        "Setting overrides from host data",
        f"{conf_d}/90-timestack-overrides.conf",
        _settings_file(
            "postgres.settings from host data: always wins over the tuning",
            [Setting(k, v, "") for k, v in desired.overrides.items()],
        ),
    )
    hba = hba_file(spec, groups, repl.hba)
    ident = managed_files.put(
        name="OS user to role maps (pg_ident.conf)",
        dest=f"{config.conf_dir(pg)}/pg_ident.conf",
        user="postgres",
        group="postgres",
        mode="0640",
        src=rendered_file("postgres/pg_ident.conf.j2", maps=config.peer_maps(spec, groups)),
    )

    if repl.upstream is not None:
        pgpass_file(repl.upstream)
    service = service_name(pg)
    if repl.waits_for_restore:
        # Started by the backup role once restored from the primary's backup.
        managed_units.service(
            name="PostgreSQL enabled, not started until restored",
            service=service,
            running=False,
            enabled=True,
        )
        return
    managed_units.service(
        name="PostgreSQL running and enabled", service=service, running=True, enabled=True
    )
    operations.settings_in_effect(
        name="Settings in effect (reload or restart as needed)",
        version=pg.version,
        cluster=pg.cluster,
        service=service,
        wanted=desired.effective(),
    )
    # Every host calls both turns, standbys' first: pyinfra then runs every standby's turn
    # before any primary's, and `_serial` runs each turn one host at a time.
    for turn in upgrade_restart.TURNS:
        hosts = upgrade_restart.PLURAL[turn]
        operations.restarted_for_upgrade(
            name=f"Restart {hosts} running an upgraded binary, one at a time",
            spec=spec,
            standby=repl.standby,
            turn=turn,
            pgbouncer="pgbouncer" in groups,
            _serial=True,
        )
    # PostgreSQL re-reads pg_hba.conf, pg_ident.conf and its TLS files on reload: a renewed
    # certificate is served to new connections without a restart.
    managed_units.service(
        name="Reload for changed client authentication or TLS files",
        service=service,
        reloaded=True,
        _if=lambda: hba.did_change() or ident.did_change() or any(f.did_change() for f in tls),
    )

    if repl.standby:
        return  # roles, databases and extensions replicate from the primary
    # Read once while preparing, handed to every role and database operation: nothing in
    # this run changes them before those operations do (None: offline, SQL is idempotent).
    current_roles = read_once(Roles, version=pg.version, cluster=pg.cluster)
    current_databases = read_once(Databases, version=pg.version, cluster=pg.cluster)
    replication_role = pg.replication.role
    if repl.slots and replication_role is not None:
        operations.role(
            name=f"Replication role {replication_role.name}",
            version=pg.version,
            cluster=pg.cluster,
            role_name=replication_role.name,
            login=True,
            password=replication_role.secret(),
            member_of=[],
            current=current_roles,
            replication=True,
        )
    operations.replication_slots(
        name="Replication slots, one per standby",
        version=pg.version,
        cluster=pg.cluster,
        wanted=repl.slots,
        prefix=SLOT_PREFIX,
    )
    for role in pg.roles:
        operations.role(
            name=f"Role {role.name}",
            version=pg.version,
            cluster=pg.cluster,
            role_name=role.name,
            login=role.login,
            password=role.secret(),
            member_of=role.member_of,
            current=current_roles,
        )
    for database in pg.databases:
        operations.database(
            name=f"Database {database.name}",
            version=pg.version,
            cluster=pg.cluster,
            database=database.name,
            owner=database.owner,
            current=current_databases,
        )
        operations.extensions(
            name=f"Extensions in {database.name}",
            version=pg.version,
            cluster=pg.cluster,
            database=database.name,
            names=config.extensions(database),
        )
    operations.extension_updates(
        name="Extensions at their packages' default versions, in every database",
        version=pg.version,
        cluster=pg.cluster,
    )


def _package_sources(spec: HostSpec) -> None:
    codename = platform().codename
    sources = config.apt_sources(spec.postgres, codename)
    if not sources:
        return
    managed_files.directory(name="apt keyring directory", path=config.KEYRING_DIR, mode="0755")
    changed = []
    for source in sources:
        changed.append(
            files.download(
                name=f"Signing key for {source.name}",
                src=source.key_url,
                dest=source.keyring,
                mode="0644",
            )
        )
        changed.append(
            managed_files.put(
                name=f"apt source {source.name}",
                dest=f"/etc/apt/sources.list.d/{source.name}.sources",
                src=rendered_file("postgres/apt.sources.j2", source=source),
            )
        )
    apt.update(
        name="Read the new package lists", _if=lambda: any(op.did_change() for op in changed)
    )


def _conf_file(name: str, dest: str, src: StringIO, **global_args: Any) -> OperationMeta:
    return managed_files.put(
        name=name, dest=dest, src=src, user="postgres", group="postgres", mode="0644", **global_args
    )


def base_settings_file(
    pg: PostgresSpec, base: Mapping[str, str], **global_args: Any
) -> OperationMeta:
    """conf.d/40-timestack-base.conf with `base` (the deploy's, or ops/switchover.py's for
    the switched inventory: the same file either way)."""
    return _conf_file(
        "Base settings",
        f"{config.conf_dir(pg)}/conf.d/40-timestack-base.conf",
        _settings_file(
            "Settings every Timestack cluster runs with",
            [Setting(k, v, "") for k, v in base.items()],
        ),
        **global_args,
    )


def pgpass_file(upstream: replication.Upstream, **global_args: Any) -> OperationMeta:
    """~postgres/.pgpass with the replication password (0600, never shown or diffed)."""
    return managed_files.put(
        name="Replication password for the walreceiver (~postgres/.pgpass)",
        src=BytesIO(replication.pgpass(upstream)),
        dest=replication.PASSFILE,
        user="postgres",
        group="postgres",
        mode="0600",
        secret=True,
        **global_args,
    )


def hba_file(
    spec: HostSpec, groups: Collection[str], replication: Sequence[HbaRule], **global_args: Any
) -> OperationMeta:
    """pg_hba.conf: host data's rules, then a primary's replication lines."""
    return managed_files.put(
        name="Client authentication (pg_hba.conf)",
        dest=f"{config.conf_dir(spec.postgres)}/pg_hba.conf",
        user="postgres",
        group="postgres",
        mode="0640",
        src=rendered_file(
            "postgres/pg_hba.conf.j2",
            rules=[*spec.postgres.hba, *replication],
            maps=config.peer_maps(spec, groups),
        ),
        **global_args,
    )


def _settings_file(title: str, settings: list[Setting], preamble: Collection[str] = ()) -> StringIO:
    return rendered_file(
        "postgres/settings.conf.j2", title=title, settings=settings, preamble=list(preamble)
    )


def _detection_notes(spec: HostSpec, detected: DetectedHardware) -> list[str]:
    """What detection saw, and which inputs host data overrode."""
    overrides = spec.postgres.tuning
    notes = list(detected.notes)
    if overrides.disk and overrides.disk != detected.disk:
        notes.append(f"disk {overrides.disk} from postgres.tuning.disk (detected {detected.disk})")
    if overrides.memory:
        notes.append("memory from postgres.tuning.memory")
    if overrides.cpus:
        notes.append("cpus from postgres.tuning.cpus")
    return notes
