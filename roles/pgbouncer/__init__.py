"""pgBouncer: transaction pooling in front of the local PostgreSQL, SCRAM without stored
passwords, TLS towards clients with this host's certificate from Timestack's CA, reloaded on
change (a renewed certificate too) and restarted only when it must listen elsewhere."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy

from roles import managed_files, managed_units, packages, tls_files
from roles.pgbouncer import config, operations
from roles.spec import HostSpec
from roles.templating import rendered_file
from roles.unit_files import UNIT_DIR, restart_on_change, unit_file


@deploy("pgBouncer")
def apply(spec: HostSpec) -> None:
    bouncer, pg = spec.pgbouncer, spec.postgres
    packages.installed(
        name="Install pgBouncer", packages=[config.PACKAGE], pins=config.pins(bouncer)
    )

    # A standby has the primary's function (replicated); its pgBouncer looks up through it.
    for database in bouncer.databases if pg.upstream is None else []:
        operations.lookup_function(
            name=f"Password lookup for pgBouncer in {database.dbname}",
            version=pg.version,
            cluster=pg.cluster,
            database=database.dbname,
            auth_user=bouncer.auth_user,
        )

    # Before the settings that name them; RELOAD re-reads them (pgBouncer >= 1.16).
    tls = (
        tls_files.installed(spec, config.TLS, config.OS_USER, "pgBouncer")
        if bouncer.client_tls_sslmode != "disable"
        else []
    )
    settings = config.settings(bouncer)
    ini = managed_files.put(
        name="pgbouncer.ini",
        dest=config.INI,
        user=config.OS_USER,
        group=config.OS_USER,
        mode="0640",
        src=rendered_file(
            "pgbouncer/pgbouncer.ini.j2",
            comment=";",
            databases=bouncer.databases,
            settings=settings,
            socket_dir=config.SOCKET_DIR,
            auth_user=bouncer.auth_user,
        ),
    )
    userlist = managed_files.put(
        name="Admin console user list (no passwords)",
        dest=config.USERLIST,
        user=config.OS_USER,
        group=config.OS_USER,
        mode="0640",
        # pgBouncer's auth_file parser stops at comment lines: no managed-by header here.
        src=StringIO(f'"{config.OS_USER}" ""\n'),
    )
    hba = managed_files.put(
        name="pgBouncer client authentication",
        dest=config.HBA,
        user=config.OS_USER,
        group=config.OS_USER,
        mode="0640",
        src=rendered_file("pgbouncer/hba.conf.j2", os_user=config.OS_USER, rules=pg.hba),
    )
    drop_ins = f"{UNIT_DIR}/{config.SERVICE}.service.d"
    managed_files.directory(name="Unit drop-in directory", path=drop_ins)
    unit = unit_file(
        name="Open-file limit for pgBouncer",
        dest=f"{drop_ins}/50-timestack.conf",
        src=rendered_file("pgbouncer/limits.conf.j2", nofile=config.open_files_limit(bouncer)),
    )
    managed_units.service(
        name="pgBouncer running and enabled", service=config.SERVICE, running=True, enabled=True
    )
    restart_on_change("Restart pgBouncer for its new open-file limit", config.SERVICE, [unit])
    in_effect = operations.config_in_effect(
        name="pgBouncer settings in effect (reload or restart)",
        wanted=settings,
    )
    # [databases], the auth files and the TLS files' contents are not in SHOW CONFIG; one
    # reload covers them unless the settings operation already reloaded or restarted.
    files = [ini, hba, userlist, *tls]
    managed_units.service(
        name="Reload for changed databases, client authentication or TLS files",
        service=config.SERVICE,
        reloaded=True,
        _if=lambda: any(f.did_change() for f in files) and not in_effect.did_change(),
    )
    # Last: a restart above already started the installed binary (read again after it).
    operations.restarted_for_upgrade(
        name="Restart pgBouncer running an upgraded binary, one host at a time", _serial=True
    )
