"""Facts the postgres role reads. SQL runs as the postgres OS user over the local socket
(peer authentication), through Debian's pg_wrapper so `--cluster` finds the right port."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase
from typing_extensions import override

from roles.postgres import hardware


def psql(version: int, cluster: str, sql: str | None, database: str = "postgres") -> str:
    """A psql command line: unaligned, tuples only, '|'-separated, stop on the first error.
    Without `sql` it reads the statements from standard input."""
    command = (
        f"runuser -u postgres -- psql --cluster {version}/{shlex.quote(cluster)} "
        f"-d {shlex.quote(database)} -XAtq -F '|' -v ON_ERROR_STOP=1"
    )
    return command if sql is None else f"{command} -c {shlex.quote(sql)}"


def _running_guard(version: int, cluster: str) -> str:
    # Facts must not fail on a host where the cluster does not exist or is stopped yet.
    return (
        f"pg_lsclusters -h {version} {shlex.quote(cluster)} 2>/dev/null | grep -q online || "
        "{ echo timestack:offline; exit 0; }; "
    )


class Hardware(FactBase[hardware.DetectedHardware]):
    """Memory (cgroup-aware), CPUs and disk kind behind the data directory."""

    @override
    def command(self, data_directory: str, wal_directory: str | None = None) -> str:
        return hardware.command(data_directory, wal_directory)

    @override
    def process(self, output: list[str]) -> hardware.DetectedHardware:
        return hardware.parse(output)


@dataclass(frozen=True)
class Cluster:
    version: int
    name: str
    port: int
    online: bool
    data_directory: str


class Clusters(FactBase[list[Cluster]]):
    """Debian's clusters (pg_lsclusters); empty before postgresql-common is installed."""

    default = list

    @override
    def command(self) -> str:
        return "pg_lsclusters -h 2>/dev/null || true"

    @override
    def process(self, output: list[str]) -> list[Cluster]:
        clusters = []
        for line in output:
            fields = line.split()
            if len(fields) >= 6 and fields[0].isdigit():
                clusters.append(
                    Cluster(
                        int(fields[0]),
                        fields[1],
                        int(fields[2]),
                        fields[3].startswith("online"),
                        fields[5],
                    )
                )
        return clusters


class ClusterState(FactBase[str]):
    """absent, online, down, or never-started: the postmaster writes postmaster.opts at
    every start and initdb does not, so a cluster without it was created by a deploy that
    stopped before starting it, not stopped by someone."""

    @override
    def command(self, version: int, cluster: str) -> str:
        return (
            f"pg_lsclusters -h {version} {shlex.quote(cluster)} 2>/dev/null | "
            "{ read -r _ _ _ status _ data _ || { echo absent; exit 0; }; "
            'case "$status" in online*) echo online ;; '
            '*) if [ -e "$data/postmaster.opts" ]; then echo down; else echo never-started; fi ;; '
            "esac; }"
        )

    @override
    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "absent"


@dataclass(frozen=True)
class PgSetting:
    setting: str
    unit: str | None
    context: str
    pending_restart: bool
    sourcefile: str | None


class Settings(FactBase[dict[str, PgSetting] | None]):
    """pg_settings rows for the given names; None while the cluster is not online."""

    @override
    def command(self, version: int, cluster: str, names: list[str]) -> str:
        quoted = ",".join("'" + name.replace("'", "''") + "'" for name in sorted(names))
        sql = (
            "SELECT name, setting, coalesce(unit, ''), context, pending_restart, "
            f"coalesce(sourcefile, '') FROM pg_settings WHERE name IN ({quoted})"
        )
        return _running_guard(version, cluster) + psql(version, cluster, sql)

    @override
    def process(self, output: list[str]) -> dict[str, PgSetting] | None:
        if output == ["timestack:offline"]:
            return None
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


class Roles(FactBase[dict[str, PgRole] | None]):
    @override
    def command(self, version: int, cluster: str) -> str:
        sql = (
            "SELECT a.rolname, a.rolcanlogin, "
            "coalesce((SELECT string_agg(g.rolname, ',') FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid), ''), "
            "coalesce(split_part(split_part(a.rolpassword, '$', 2), ':', 1), ''), "
            "coalesce(split_part(split_part(a.rolpassword, '$', 2), ':', 2), ''), "
            "coalesce(encode(sha256(convert_to(a.rolpassword, 'UTF8')), 'hex'), '') "
            "FROM pg_authid a WHERE a.rolname !~ '^pg_'"
        )
        return _running_guard(version, cluster) + psql(version, cluster, sql)

    @override
    def process(self, output: list[str]) -> dict[str, PgRole] | None:
        if output == ["timestack:offline"]:
            return None
        roles = {}
        for line in output:
            name, login, members, iterations, salt, digest = line.split("|", 5)
            roles[name] = PgRole(
                login=login == "t",
                member_of=frozenset(filter(None, members.split(","))),
                scram_iterations=int(iterations) if iterations.isdigit() else None,
                scram_salt=salt or None,
                verifier_sha256=digest or None,
            )
        return roles


class Databases(FactBase[dict[str, str] | None]):
    """{database: owner} for the databases one can connect to."""

    @override
    def command(self, version: int, cluster: str) -> str:
        sql = (
            "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "WHERE d.datallowconn AND NOT d.datistemplate"
        )
        return _running_guard(version, cluster) + psql(version, cluster, sql)

    @override
    def process(self, output: list[str]) -> dict[str, str] | None:
        if output == ["timestack:offline"]:
            return None
        return dict(line.split("|", 1) for line in output)


class Extensions(FactBase[dict[str, str] | None]):
    """{extension: version} in one database; None while offline or before it exists."""

    @override
    def command(self, version: int, cluster: str, database: str) -> str:
        exists = (
            f"{psql(version, cluster, 'SELECT datname FROM pg_database')} "
            f"| grep -qx {shlex.quote(database)} || {{ echo timestack:offline; exit 0; }}; "
        )
        sql = "SELECT extname, extversion FROM pg_extension"
        return _running_guard(version, cluster) + exists + psql(version, cluster, sql, database)

    @override
    def process(self, output: list[str]) -> dict[str, str] | None:
        if output == ["timestack:offline"]:
            return None
        return dict(line.split("|", 1) for line in output)
