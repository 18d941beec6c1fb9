"""The `tls` section: the certificate every host gets from Timestack's CA.

One key and certificate per host serve all its TLS endpoints (pgBackRest's server,
PostgreSQL, pgBouncer, Kafka). Its common name is the name peers dial (backup.address, else
the inventory name); its subject alternative names add the addresses host data declares
elsewhere (kafka.advertised_host) and `tls.names`.
Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

from pydantic import Field

from roles.spec.types import Hostname, SpecModel


class TlsSpec(SpecModel):
    names: list[Hostname] = Field(
        [],
        description="more names or IP addresses clients dial this host by (load balancer "
        "names, service aliases); each becomes a subject alternative name",
    )
    renew_before_days: int = Field(
        30,
        ge=1,
        le=365,
        description="a deploy reissues this host's certificate when it expires within this "
        "many days",
    )
