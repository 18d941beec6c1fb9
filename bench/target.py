"""Where the benchmark goes: an inventory host (its spec gives ports, roles, passwords,
thresholds and how to reach a shell on it) or explicit DSNs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.clusters import BOUNCER_PORT, PORT, DefaultsCluster
from bench.spec import BenchSpec, thresholds
from bench.workload import Endpoint
from roles.spec import HostSpec

if TYPE_CHECKING:
    from tests.verify import targets


@dataclass(frozen=True)
class Target:
    tuned: Endpoint
    host: targets.Target | None  # the DB host as the verify suite reaches it: for a shell
    defaults: DefaultsCluster | None
    defaults_endpoint: Endpoint | None  # the stock cluster and pgBouncer beside the tuned
    spec: HostSpec | None
    thresholds: BenchSpec | None  # the host's `bench` data


def _password(spec: HostSpec, role_name: str) -> str | None:
    role = next((r for r in spec.postgres.roles if r.name == role_name), None)
    if role is None:
        return None
    if role.password_env and os.environ.get(role.password_env):
        return os.environ[role.password_env]
    return role.password.get_secret_value() if role.password else None


def from_inventory(inventory: Path, host: str) -> Target:
    """The host's database owner on the database the schema role migrates: the bench schema
    needs CREATE there, and it is the one role every Timestack host has."""
    from tests.verify.targets import load_targets  # here: pyinfra_cli monkey-patches on import

    targets = {t.short_name: t for t in load_targets(inventory)}
    if host not in targets:
        raise SystemExit(f"{host}: not in {inventory} (hosts: {', '.join(sorted(targets))})")
    found = targets[host]
    spec = found.spec
    database = spec.schema_.database
    owner = next(db.owner for db in spec.postgres.databases if db.name == database)
    password = _password(spec, owner)
    if password is None:
        raise SystemExit(f"{host}: no password for {owner} (set its password_env)")

    base = f"dbname={database} user={owner} connect_timeout=10"
    # The tuned cluster and its pgBouncer as any client reaches them: TLS verified against
    # Timestack's CA (hostssl rules). The stock cluster and pgBouncer beside them run with
    # what Debian and pgBouncer ship, TLS not set up: libpq's default (prefer) applies.
    tuned = Endpoint(
        name="tuned",
        direct=f"{found.tls_conninfo('postgres', spec.postgres.port)} {base}",
        pgbouncer=f"{found.tls_conninfo('pgbouncer', spec.pgbouncer.listen_port)} {base}",
        password=password,
    )
    direct, bouncer_at = (
        found.endpoint("bench_postgres", PORT),
        found.endpoint("bench_pgbouncer", BOUNCER_PORT),
    )
    stock = Endpoint(
        name="default",
        direct=f"host={direct[0]} port={direct[1]} {base}",
        pgbouncer=f"host={bouncer_at[0]} port={bouncer_at[1]} {base}",
        password=password,
    )
    roles = [
        (role.name, secret)
        for role in spec.postgres.roles
        if role.login and (secret := _password(spec, role.name)) is not None
    ]
    addresses = [
        str(rule.address) for rule in spec.postgres.hba if rule.database in ("all", database)
    ]
    defaults = DefaultsCluster(
        version=spec.postgres.version,
        database=database,
        owner=owner,
        roles=roles,
        hba_addresses=addresses,
    )
    return Target(tuned, found, defaults, stock, spec, thresholds(host, found.data))


def from_dsns(direct: str, pgbouncer: str) -> Target:
    """Explicit conninfo strings (password from PGPASSWORD or ~/.pgpass, as libpq does);
    no shell on the host, so no defaults cluster: validation only."""
    return Target(Endpoint("tuned", direct, pgbouncer, None), None, None, None, None, None)
