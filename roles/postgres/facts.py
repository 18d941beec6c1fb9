"""Facts the postgres role reads; those answered by SQL are roles.pgclient.ClusterSqlFacts."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from pyinfra.api import FactBase
from typing_extensions import override

from roles.pgclient import (
    ClusterSqlFact,
    PostgresCommonFact,
    in_each_database,
    psql,
    when_online,
)
from roles.postgres.extensions import QUERY, InstalledExtension, parse
from roles.sql import quote_literal


@dataclass(frozen=True)
class Cluster:
    version: int
    name: str
    port: int
    online: bool
    data_directory: str
    # The postmaster writes postmaster.opts at every start and initdb does not: a cluster
    # without it was created by a deploy that stopped before starting it.
    started_before: bool = True

    @property
    def state(self) -> str:
        """online, down (stopped by someone: theirs to start) or never-started."""
        if self.online:
            return "online"
        return "down" if self.started_before else "never-started"


class Clusters(PostgresCommonFact[list[Cluster]]):
    """Debian's clusters (pg_lsclusters), each with whether it has ever run; empty before
    postgresql-common is installed."""

    @override
    @staticmethod
    def default() -> list[Cluster]:
        return []

    @override
    def command(self) -> str:
        return (
            "pg_lsclusters -h | while read -r version name port status owner data _; do "
            'started=no; [ -e "$data/postmaster.opts" ] && started=yes; '
            'echo "$version $name $port $status $owner $data $started"; done'
        )

    @override
    def process(self, output: list[str]) -> list[Cluster]:
        clusters = []
        for line in output:
            fields = line.split()
            if len(fields) >= 7 and fields[0].isdigit():
                clusters.append(
                    Cluster(
                        version=int(fields[0]),
                        name=fields[1],
                        port=int(fields[2]),
                        online=fields[3].startswith("online"),
                        data_directory=fields[5],
                        started_before=fields[6] == "yes",
                    )
                )
        return clusters


@dataclass(frozen=True)
class PgSetting:
    setting: str
    unit: str | None
    context: str
    pending_restart: bool
    sourcefile: str | None


class Settings(ClusterSqlFact[dict[str, PgSetting] | None]):
    """pg_settings rows for the given names; None while the cluster is not online."""

    @override
    def command(self, version: int, cluster: str, names: Sequence[str]) -> str:
        quoted = ",".join(quote_literal(name) for name in sorted(names))
        sql = (
            "SELECT name, setting, coalesce(unit, ''), context, pending_restart, "
            f"coalesce(sourcefile, '') FROM pg_settings WHERE name IN ({quoted})"
        )
        return when_online(version, cluster) + psql(version, cluster, sql)

    @override
    def parse(self, output: list[str]) -> dict[str, PgSetting] | None:
        rows = {}
        for line in output:
            name, setting, unit, context, pending, sourcefile = line.split("|", 5)
            rows[name] = PgSetting(
                setting, unit or None, context, pending == "t", sourcefile or None
            )
        return rows


@dataclass(frozen=True)
class PgRole:
    login: bool
    member_of: frozenset[str]
    # Only what is needed to recompute and compare the verifier: never the verifier itself.
    scram_iterations: int | None
    scram_salt: str | None
    verifier_sha256: str | None
    replication: bool = False


class Roles(ClusterSqlFact[dict[str, PgRole] | None]):
    @override
    def command(self, version: int, cluster: str) -> str:
        sql = (
            "SELECT a.rolname, a.rolcanlogin, "
            "coalesce((SELECT string_agg(g.rolname, ',') FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid), ''), "
            "coalesce(split_part(split_part(a.rolpassword, '$', 2), ':', 1), ''), "
            "coalesce(split_part(split_part(a.rolpassword, '$', 2), ':', 2), ''), "
            "coalesce(encode(sha256(convert_to(a.rolpassword, 'UTF8')), 'hex'), ''), "
            "a.rolreplication FROM pg_authid a WHERE a.rolname !~ '^pg_'"
        )
        return when_online(version, cluster) + psql(version, cluster, sql)

    @override
    def parse(self, output: list[str]) -> dict[str, PgRole] | None:
        roles = {}
        for line in output:
            name, login, members, iterations, salt, digest, replication = line.split("|", 6)
            roles[name] = PgRole(
                login=login == "t",
                member_of=frozenset(filter(None, members.split(","))),
                scram_iterations=int(iterations) if iterations.isdigit() else None,
                scram_salt=salt or None,
                verifier_sha256=digest or None,
                replication=replication == "t",
            )
        return roles


class Databases(ClusterSqlFact[dict[str, str] | None]):
    """{database: owner} for the databases one can connect to."""

    @override
    def command(self, version: int, cluster: str) -> str:
        sql = (
            "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "WHERE d.datallowconn AND NOT d.datistemplate"
        )
        return when_online(version, cluster) + psql(version, cluster, sql)

    @override
    def parse(self, output: list[str]) -> dict[str, str] | None:
        return dict(line.split("|", 1) for line in output)


class ExtensionVersions(ClusterSqlFact[list[InstalledExtension] | None]):
    """Every extension in every database that allows connections, with its installed
    version and the default version of its package now, in one command; None offline."""

    @override
    def command(self, version: int, cluster: str) -> str:
        return when_online(version, cluster) + in_each_database(version, cluster, QUERY)

    @override
    def parse(self, output: list[str]) -> list[InstalledExtension] | None:
        return [parse(line) for line in output]


class ReplicationSlots(ClusterSqlFact[dict[str, bool] | None]):
    """{physical slot: active}; None while the cluster is offline."""

    @override
    def command(self, version: int, cluster: str) -> str:
        sql = "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'"
        return when_online(version, cluster) + psql(version, cluster, sql)

    @override
    def parse(self, output: list[str]) -> dict[str, bool] | None:
        return {name: active == "t" for name, active in (line.split("|", 1) for line in output)}


class HostAddresses(FactBase[dict[str, str]]):
    """{name: first IPv4 address} as this host resolves each name (names that do not
    resolve are left out)."""

    @override
    @staticmethod
    def default() -> dict[str, str]:
        return {}

    @override
    def command(self, names: Sequence[str]) -> str:
        return (
            "; ".join(
                f"echo {shlex.quote(name)} $(getent ahostsv4 {shlex.quote(name)} | "
                "awk 'NR == 1 {print $1}')"
                for name in names
            )
            or "true"
        )

    @override
    def process(self, output: list[str]) -> dict[str, str]:
        return {
            fields[0]: fields[1] for fields in (line.split() for line in output) if len(fields) == 2
        }
