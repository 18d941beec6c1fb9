"""The lab, started once per test session, with the full stack deployed on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.ingest_lab import install_feed, start_writers
from tests.integration.lab_access import LAB_INVENTORY
from tests.integration.pyinfra_run import ROOT, DeployRun, run_pyinfra

# Recreates the lab's hosts and deploys them from scratch: before anything else uses the lab.
RUNS_FIRST = "test_interrupted_deploy.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
    # Stable: unit tests, then that module, then the other integration tests as collected.
    items.sort(
        key=lambda item: (
            "tests/integration" in str(item.path),
            item.path.name != RUNS_FIRST,
        )
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[str]:
    """The three lab hosts, running (`python -m lab up` is idempotent)."""
    result = subprocess.run(
        [sys.executable, "-m", "lab", "up"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"python -m lab up failed:\n{result.stdout}{result.stderr}"
    yield LAB_INVENTORY


@pytest.fixture(scope="session")
def first_deploy(lab: str) -> DeployRun:
    run = run_pyinfra(lab)
    assert run.returncode == 0, f"deploy failed:\n{run.output[-6000:]}"
    return run


@pytest.fixture
def restore_lab(first_deploy: DeployRun) -> Iterator[None]:
    """For tests that deploy a variant of the lab: the lab's own data again afterwards."""
    yield
    restored = run_pyinfra(LAB_INVENTORY)
    assert restored.returncode == 0, restored.output[-3000:]


@pytest.fixture(scope="module")
def ingest_feed(first_deploy: DeployRun) -> Iterator[str]:
    """bench/telemetry_feed.py on the first writer host (tests/integration/ingest_lab.py);
    every ingest writer running again afterwards."""
    yield install_feed()
    start_writers()
