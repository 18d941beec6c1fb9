"""The `ingest` section: how the writers of group `ingest` reach Kafka and the primary.

What they carry (topic → table, conflict policy, batch size) is declared per hypertable in
the time-series spec (`ingest:` blocks of sql/timeseries.yml); the database role they log in
as is that spec's `ingest.role`, declared with its password in the primary's postgres.roles.
Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from roles.spec.types import PgDuration, Port, SpecModel


class IngestSpec(SpecModel):
    group_id: str = Field(
        "timestack-ingest",
        description="Kafka consumer group of the writers (one member per ingest host)",
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
    )
    database_hosts: list[str] = Field(
        [],
        description="inventory names of the PostgreSQL hosts a writer may connect to; it "
        "picks the read-write one (default: every host of group timescaledb)",
    )
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "verify-full",
        description="libpq sslmode of the writer's database connection (verify-full: "
        "encrypted, and the server's certificate is Timestack's CA's for the name dialled; "
        "the CA is the one every host publishes)",
    )
    metrics_port: Port = Field(9309, description="the writer's Prometheus endpoint")
    retry_max: PgDuration = Field(
        "30s", description="longest wait between attempts while the database is unavailable"
    )
    statement_timeout: PgDuration = Field("60s", description="limit of one batch's statement")
    rejects_window: PgDuration = Field(
        "15min",
        description="on a primary: the verify suite fails on a reject younger than this "
        "(0: rejects are expected, never a failure)",
    )
