"""roles.spec is the bottom layer: it imports no role, and each module imports on its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC_MODULES = [
    "roles.spec",
    *sorted(
        f"roles.spec.{path.stem}"
        for path in (ROOT / "roles" / "spec").glob("*.py")
        if path.stem != "__init__"
    ),
]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {name for name in out.stdout.split() if name.startswith("roles.")}


@pytest.mark.parametrize("module", SPEC_MODULES)
def test_spec_module_imports_no_role(module: str) -> None:
    """Imported first in a fresh interpreter (an import cycle would fail here), a spec module
    pulls in only the spec package and the shared unit parsers."""
    foreign = {
        name
        for name in _loaded_after_import(module)
        if not name.startswith("roles.spec") and name != "roles.units"
    }
    assert not foreign, f"{module} imports {sorted(foreign)}"
