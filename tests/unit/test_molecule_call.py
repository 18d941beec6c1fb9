"""`molecule list` as README says to call it: the venv's molecule with the venv's bin on
PATH (ansible-compat looks for ansible-config there before molecule.yml is read). No lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_scenario_lists_the_lab_hosts_with_the_venv_on_path() -> None:
    if not (BIN / "molecule").exists():
        pytest.skip("molecule is not installed here (the dev and test extras bring it)")
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    listed = subprocess.run(
        [str(BIN / "molecule"), "list", "--format", "plain"],
        cwd=ROOT, env={**os.environ, "PATH": path}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    hosts = [line.split()[0] for line in listed.stdout.splitlines() if line.startswith("ts-")]
    assert hosts == ["ts-db1", "ts-db2", "ts-kafka1", "ts-backup1"]
