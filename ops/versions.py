"""Print, per host, each component's declared, installed and running version; reads only:

    pyinfra inventory/prod.py ops/versions.py --dry

PostgreSQL (the package's pin host data declares, the package, server_version), TimescaleDB
(its pin, the package; the extension's version in each database with the package's
default), pgBouncer and pgBackRest (their pins, the packages, what runs) and Kafka
(kafka.version, the release installed, the broker's). A row marked `*` runs something other
than what is installed, or has installed what its pin does not match (ops/version_report.py).
"""

import sys

from pyinfra import host, inventory

from ops import version_report as versions
from ops.version_facts import ComponentVersions
from roles.hostdata import validated_specs
from roles.kafka.config import home as kafka_home
from roles.postgres.facts import ExtensionVersions

_spec = validated_specs(inventory)[host.name]
_wanted = versions.wanted(_spec)
_pg = _spec.postgres
_found = host.get_fact(
    ComponentVersions,
    packages=list(_wanted.packages),
    postgres=f"{_pg.version}/{_pg.cluster}" if _wanted.postgres else None,
    pgbouncer=_wanted.pgbouncer,
    kafka_home=kafka_home(_spec.kafka) if _wanted.kafka else None,
)
_extensions = (
    host.get_fact(ExtensionVersions, version=_pg.version, cluster=_pg.cluster)
    if _wanted.postgres
    else None
)
print(
    versions.render(host.name, versions.components(_spec, _found, _extensions)),
    file=sys.stderr,  # beside pyinfra's own report: stdout may be its --json
    flush=True,
)
