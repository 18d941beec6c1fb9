"""The Molecule scenario on the lab: converge reports what pyinfra changed, so Molecule's
idempotence step passes on a converged lab and fails on a drifted one.

The whole `molecule test` (destroy, create, converge, idempotence, verify, destroy) runs in
`make molecule`, and last in CI: its destroy removes the lab the other tests use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.pyinfra_run import ANSI, ROOT, DeployRun

BIN = Path(sys.executable).parent


def molecule(step: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "molecule"), step],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.fixture(scope="module")
def converged(first_deploy: DeployRun) -> None:
    for step in ("create", "converge"):
        result = molecule(step)
        assert result.returncode == 0, f"molecule {step}:\n{result.stdout[-3000:]}"


def test_idempotence_passes_on_a_converged_lab(converged: None) -> None:
    result = molecule("idempotence")
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output[-3000:]
    assert "idempotence: Executed: Successful" in output, output[-3000:]


def test_idempotence_fails_on_a_drifted_lab_and_names_the_change(converged: None) -> None:
    subprocess.run(["docker", "exec", "ts-kafka1", "rm", "/etc/timezone"], check=True)
    result = molecule("idempotence")
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode != 0, output[-3000:]
    assert "Idempotence test failed" in output, output[-3000:]
    # that converge repaired the drift: the next one changes nothing again
    assert molecule("idempotence").returncode == 0
