"""The `schema` section: which time-series spec the schema role applies, and how.

Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from roles.spec.types import (
    OnCalendar,
    PgDuration,
    PgIdent,
    SpecModel,
)


class SchemaSpec(SpecModel):
    spec: str = Field(
        "sql/timeseries.yml", description="time-series spec, relative to the project", min_length=1
    )
    database: PgIdent = Field("telemetry", description="database the schema is applied to")
    statement_timeout: PgDuration = Field("5min", description="per-statement limit while migrating")
    lock_timeout: PgDuration = Field(
        "10s", description="lock wait limit while migrating and in the scheduled jobs"
    )
    edition: Literal["auto", "timescale", "apache"] = Field(
        "auto",
        description="TimescaleDB edition to render: auto reads SHOW timescaledb.license "
        "(before the extension exists: debian source -> apache, timescale -> timescale)",
    )
    retention_schedule: OnCalendar = Field(
        "*-*-* 03:15:00", description="OnCalendar of the retention job (apache edition)"
    )
