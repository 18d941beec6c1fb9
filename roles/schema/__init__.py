"""Phased time-series SQL from sql/timeseries.yml onto the database schema.database.

Runs after the postgres role. Each unit of the plan is its own operation (roles.schema
.operations.unit). On the apache edition, retention and rollup refreshes are systemd timers
calling timestack.run_retention() and timestack.refresh_rollups() (roles/schema/
engine_apache.sql) as the postgres OS user over the local socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from roles import managed_files, managed_units
from roles.backup.config import primary_condition
from roles.once import read_once
from roles.schema import operations
from roles.schema.edition import choose
from roles.schema.facts import TimescaleEdition
from roles.schema.indexes import redundant_indexes
from roles.schema.model import (
    LoadedSpec,
    SpecFileError,
    interval_seconds,
    load_spec,
)
from roles.schema.render import plan
from roles.schema.units import Unit
from roles.spec import HostSpec
from roles.templating import rendered_file
from roles.unit_files import UNIT_DIR, reload_units

ROOT = Path(__file__).resolve().parents[2]
RETENTION_UNIT = "timestack-retention"
ROLLUPS_UNIT = "timestack-rollups"


@deploy("Time-series schema")
def apply(spec: HostSpec) -> None:
    pg, schema = spec.postgres, spec.schema_
    try:
        loaded = load_spec(ROOT / schema.spec, ROOT)
    except SpecFileError as error:  # roles.schema.validation reports it before any host changes
        raise PyinfraError(str(error)) from None
    owner = next(db.owner for db in pg.databases if db.name == schema.database)
    evidence = read_once(
        TimescaleEdition, version=pg.version, cluster=pg.cluster, database=schema.database
    )
    edition, why = choose(schema.edition, evidence, pg.source)
    for warning in redundant_indexes(loaded):
        logger.warning(f"{host.name}: {warning}")
    units = plan(loaded, edition)
    # The cluster, database and probes every schema operation reads its state with.
    target: dict[str, Any] = {
        "version": pg.version,
        "cluster": pg.cluster,
        "database": schema.database,
        "probes": tuple((u.key, u.probe.sql) for u in units if u.probe),
    }
    name = f"TimescaleDB edition: {edition} ({why})"
    operations.edition(name=name, edition=edition, why=why, **target)
    applied = [
        operations.unit(
            name=u.key,
            owner=owner,
            unit=u,
            edition=edition,
            licence=evidence.licence,
            statement_timeout=schema.statement_timeout,
            lock_timeout=schema.lock_timeout,
            **target,
        )
        for u in units
    ]
    if edition == "apache":
        feeding = [op for op, u in zip(applied, units, strict=True) if _feeds_jobs(u)]
        _apache_jobs(spec, loaded, owner, feeding)


def _feeds_jobs(unit: Unit) -> bool:
    return unit.phase in ("40-retention", "60-rollups") or unit.name == "timestack-engine"


def _apache_jobs(
    spec: HostSpec, loaded: LoadedSpec, owner: str, feeding: list[OperationMeta]
) -> None:
    """Timers for what the licensed build's background jobs would do; each runs once at once
    when its unit file or the SQL it calls changed, so a deploy ends with a tested job."""
    pg, schema = spec.postgres, spec.schema_
    common: dict[str, Any] = {
        "version": pg.version,
        "cluster": pg.cluster,
        "database": schema.database,
        "owner": owner,
        "lock_timeout": schema.lock_timeout,
        # Skipped on a standby (a former primary after a switchover): it is read-only.
        "condition": primary_condition(spec),
    }
    every = min((interval_seconds(r.refresh.every) for r in loaded.spec.rollups), default=3600)
    jobs = {
        RETENTION_UNIT: (
            "Drop expired chunks (time-series retention)",
            "SELECT * FROM timestack.run_retention()",
            [("OnCalendar", schema.retention_schedule), ("Persistent", "true")],
        ),
        ROLLUPS_UNIT: (
            "Refresh the rollup tables over their windows",
            "CALL timestack.refresh_rollups()",
            # The smallest `every`; each rollup is refreshed only when its own is due.
            [("OnBootSec", "2min"), ("OnUnitActiveSec", f"{every}s")],
        ),
    }
    changed = list(feeding)
    for unit, (description, sql, schedule) in jobs.items():
        context: dict[str, Any] = {**common, "unit": unit, "description": description}
        changed.append(
            managed_files.put(
                name=f"{unit}.service",
                dest=f"{UNIT_DIR}/{unit}.service",
                src=rendered_file("schema/job.service.j2", sql=sql, **context),
            )
        )
        changed.append(
            managed_files.put(
                name=f"{unit}.timer",
                dest=f"{UNIT_DIR}/{unit}.timer",
                src=rendered_file("schema/job.timer.j2", schedule=schedule, **context),
            )
        )

    def any_changed() -> bool:
        return any(op.did_change() for op in changed)

    reload_units("Load the changed job units", changed)
    for unit in jobs:
        managed_units.service(
            name=f"{unit}.timer enabled and active",
            service=f"{unit}.timer",
            running=True,
            enabled=True,
        )
    server.shell(
        name="Run the retention and rollup jobs once",
        commands=[f"systemctl start {RETENTION_UNIT}.service {ROLLUPS_UNIT}.service"],
        _if=any_changed,
    )
