"""What one host has installed and running of each component, read in one command for the
version report (ops/version_report.py, ops/versions.py). Reads only."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import override

from roles.kafka.config import UNIT as KAFKA_UNIT
from roles.pgbouncer.facts import running_console
from roles.pgclient import OFFLINE, psql

# The broker's classpath names its own jar, e.g. .../libs/kafka_2.13-4.4.0.jar.
KAFKA_JAR = r"kafka_[0-9.]*-[0-9][0-9.]*[0-9]\.jar"


class ComponentVersions(FactBase[dict[str, str]]):
    """`deb:<package>` (installed Debian packages), `postgres` (the running cluster's
    server_version), `pgbouncer` (the running pgBouncer's SHOW VERSION), `kafka-installed`
    (the release the stable symlink points to), `kafka-running` (the running broker's)."""

    @override
    @staticmethod
    def default() -> dict[str, str]:
        return {}

    @override
    def command(
        self,
        packages: list[str],
        postgres: str | None = None,
        pgbouncer: bool = False,
        kafka_home: str | None = None,
    ) -> str:
        """`postgres`: "<version>/<cluster>"; `kafka_home`: the release's stable symlink."""
        parts = []
        if packages:
            names = " ".join(shlex.quote(name) for name in packages)
            parts.append(
                "dpkg-query -W -f '${db:Status-Abbrev}|${Package}|${Version}\\n' "
                f"{names} 2>/dev/null | sed -n 's/^ii *|/deb:/p'"
            )
        if postgres is not None:
            version, cluster = postgres.split("/", 1)
            query = "SELECT 'postgres', current_setting('server_version')"
            parts.append(
                f"pg_lsclusters -h {version} {shlex.quote(cluster)} 2>/dev/null | grep -q online "
                f"&& {psql(int(version), cluster, query)}"
            )
        if pgbouncer:
            parts.append(f"({running_console('SHOW VERSION')}) | sed 's/^/pgbouncer|/'")
        if kafka_home is not None:
            home = shlex.quote(kafka_home)
            parts.append(
                f'release=$(readlink -e {home}) && echo "kafka-installed|${{release##*/}}"'
            )
            parts.append(
                f"pid=$(systemctl show -p MainPID --value {KAFKA_UNIT} 2>/dev/null); "
                '[ "${pid:-0}" -gt 0 ] && echo kafka-running\\|$(tr "\\0:" "\\n\\n" '
                f"< /proc/$pid/cmdline | grep -o '{KAFKA_JAR}' | head -n 1)"
            )
        # Each part answers for itself: one that finds nothing leaves the others' answers.
        return "".join(f"{{ {part}; }}; " for part in parts) + "true"

    @override
    def process(self, output: list[str]) -> dict[str, str]:
        found = {}
        for line in output:
            key, _, value = line.partition("|")
            value = value.strip()
            if not value or value == OFFLINE:
                continue
            if key == "pgbouncer":
                value = value.removeprefix("PgBouncer ")
            elif key.startswith("kafka-"):
                value = value.rsplit("-", 1)[-1].removesuffix(".jar")
            found[key] = value
        return found
