"""The database host the schema tests run SQL on, through `docker exec` as postgres."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import pytest

from tests.integration.pyinfra_run import ROOT
from tests.verify.targets import load_targets


@dataclass(frozen=True)
class DbHost:
    inventory: str
    container: str
    version: int
    cluster: str
    database: str

    def psql(self, script: str, database: str | None = None, check: bool = True) -> str:
        """Run a psql script in the container as postgres; stdout (and stderr when it fails)."""
        command = [
            "docker", "exec", "-i", self.container, "runuser", "-u", "postgres", "--",
            "psql", "--cluster", f"{self.version}/{self.cluster}", "-d",
            database or self.database, "-XAtq", "-v", f"ON_ERROR_STOP={int(check)}",
        ]  # fmt: skip
        result = subprocess.run(command, input=script, capture_output=True, text=True, check=False)
        if check:
            assert result.returncode == 0, f"psql failed:\n{result.stderr}\n{script[:2000]}"
        return result.stdout

    def rows(self, query: str) -> list[list[str]]:
        return [line.split("|") for line in self.psql(query).splitlines() if line]

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", self.container, "systemctl", *args],
            capture_output=True,
            text=True,
            check=False,
        )


def schema_host(request: pytest.FixtureRequest) -> DbHost:
    """The database host of the schema tests: the lab's ts-db1 after `first_deploy`, or
    TIMESTACK_SCHEMA_TARGET=<inventory>:<container> (your own container, not the lab)."""
    override = os.environ.get("TIMESTACK_SCHEMA_TARGET")
    if override:
        inventory, container = override.split(":", 1)
    else:
        request.getfixturevalue("first_deploy")
        inventory, container = "inventory/lab.py", "ts-db1"
    target = next(t for t in load_targets(ROOT / inventory) if t.short_name == container)
    spec = target.spec
    return DbHost(
        inventory, container, spec.postgres.version, spec.postgres.cluster, spec.schema_.database
    )
