"""The postgres role's side of streaming replication, decided while the deploy is prepared.

A primary gets a replication role, a slot and a pg_hba `replication` line per standby. A
standby gets primary_conninfo, its slot name and ~postgres/.pgpass; its cluster is created
(for Debian's configuration directory) but not started until the backup role has restored
the primary's latest backup into it as a standby (roles/backup). SQL the primary replicates
(roles, databases, extensions, the schema) is never run on a standby.

What is refused here, before any host changes: a standby whose settings break PostgreSQL's
hot-standby rule, a standby address the primary cannot resolve, a primary whose certificate
would not name the address its standby dials (verify-full), and a host whose running
role (primary or standby) is not what the inventory says, as after a switchover: Timestack
never demotes, promotes or re-points a cluster on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.context import inventory

from roles import pki
from roles.common.facts import Hardware
from roles.once import read_once
from roles.pgclient import StandbySignal
from roles.postgres import config, replication
from roles.postgres.facts import Cluster, HostAddresses
from roles.postgres.replication import Upstream
from roles.refusal import Refusal
from roles.spec import FieldError, HbaRule, HostSpec, host_address
from roles.spec.topology import slot_name


@dataclass(frozen=True)
class Replication:
    upstream: Upstream | None  # None: this host is a primary
    built: bool  # a standby whose data directory was restored (standby.signal)
    settings: dict[str, str] = field(default_factory=dict)  # a standby's
    hba: list[HbaRule] = field(default_factory=list)  # a primary's replication lines
    slots: list[str] = field(default_factory=list)  # a primary's, one per standby

    @property
    def standby(self) -> bool:
        return self.upstream is not None

    @property
    def waits_for_restore(self) -> bool:
        """A standby not restored yet: its cluster must not start (it would be a second,
        unrelated primary in the stanza) and no SQL runs on it."""
        return self.standby and not self.built


def prepare(spec: HostSpec, specs: Mapping[str, HostSpec], existing: Cluster | None) -> Replication:
    pg = spec.postgres
    signal = existing is not None and read_once(StandbySignal, data_directory=pg.data_dir)
    up = replication.upstream(spec, specs)
    if up is None:
        if signal:
            raise Refusal(
                FieldError(
                    host.name,
                    "postgres.upstream",
                    "nothing (a primary)",
                    f"the primary it streams from: {pg.data_dir}/standby.signal says this "
                    "host is a standby (after a switchover, update the inventory: "
                    "postgres.upstream on this host, none on the new primary). Timestack "
                    "never promotes a standby on its own",
                )
            )
        standbys = replication.standby_names(spec, specs)
        return Replication(
            None,
            built=False,
            hba=replication.replication_rules(spec, standby_addresses(standbys, specs)),
            slots=[slot_name(name) for name in standbys],
        )
    if existing is not None and existing.started_before and not signal:
        raise Refusal(
            FieldError(
                host.name,
                "postgres.upstream",
                repr(up.name),
                f"no upstream: cluster {pg.version}/{pg.cluster} has run as a primary (no "
                "standby.signal), as after a switchover. Timestack never demotes or "
                "re-points a primary: update the inventory, or rebuild this host as a "
                "standby by removing its cluster yourself (pg_dropcluster)",
            )
        )
    unverifiable = replication.unverifiable_upstream(
        host.name, up, pki.identity(specs[up.name]).names
    )
    if unverifiable is not None:
        raise Refusal(unverifiable)
    return Replication(up, built=bool(signal), settings=replication.standby_settings(host.name, up))


def standby_addresses(standbys: list[str], specs: Mapping[str, HostSpec]) -> list[tuple[str, str]]:
    """Each standby's address in CIDR form: postgres.replication.address, else its name as
    this primary resolves it (what the primary sees it connect from)."""
    to_resolve = [host_address(n) for n in standbys if not specs[n].postgres.replication.address]
    resolved = read_once(HostAddresses, names=tuple(to_resolve)) if to_resolve else {}
    addresses = []
    for name in standbys:
        address = specs[name].postgres.replication.address
        if address is None:
            ip = resolved.get(host_address(name))
            if ip is None:
                raise Refusal(
                    FieldError(
                        name,
                        "postgres.replication.address",
                        f"nothing ({host_address(name)} does not resolve on {host.name})",
                        "the address this standby connects to its primary from, in CIDR "
                        "form (e.g. 10.20.0.12/32), for the primary's pg_hba replication rule",
                    )
                )
            address = f"{ip}/32"
        addresses.append((name, address))
    return addresses


def check_hot_standby(
    spec: HostSpec, specs: Mapping[str, HostSpec], own: Mapping[str, str]
) -> None:
    """Refuse a standby whose settings (`own`, as computed for its own hardware) are below
    what its primary computes for its hardware."""
    name = spec.postgres.upstream
    if name is None:
        return
    primary_host = inventory.get_host(name)
    primary = specs[name]
    detected = primary_host.get_fact(
        Hardware,
        data_directory=primary.postgres.data_dir,
        wal_directory=primary.postgres.wal_directory,
    )
    groups: Collection[str] = frozenset(primary_host.groups)
    theirs = config.desired_settings(primary, groups, detected).effective()
    problems = replication.hot_standby_problems(host.name, name, own, theirs)
    if problems:
        raise Refusal(problems[0])
