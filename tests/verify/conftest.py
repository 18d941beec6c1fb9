"""pytest plugin: `pytest tests/verify --inventory inventory/prod.py`.

Each check is marked with the inventory group it is for (`@pytest.mark.group("kafka")`,
default "all") and runs once per host of that group, as `host` (a Testinfra host) with
`spec` (that host's validated Timestack data). Checks only read: users run them on production.
"""

from __future__ import annotations

from typing import Any

import pytest

from roles.spec import SpecError
from roles.targets import Target, load_targets


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--inventory",
        default="inventory/lab.py",
        help="pyinfra inventory whose hosts the checks run against (default: the lab)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "group(name): run this check on hosts of that group")
    try:
        config.stash[_TARGETS] = load_targets(config.getoption("--inventory"))
    except SpecError as error:
        raise pytest.UsageError(f"the inventory's data is invalid:\n{error}") from None


_TARGETS = pytest.StashKey[list[Target]]()


def _group_of(metafunc: pytest.Metafunc) -> str:
    marker = metafunc.definition.get_closest_marker("group")
    return str(marker.args[0]) if marker else "all"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" not in metafunc.fixturenames:
        return
    group = _group_of(metafunc)
    targets = [
        target
        for target in metafunc.config.stash[_TARGETS]
        if group == "all" or group in target.groups
    ]
    metafunc.parametrize(
        "target",
        targets,
        ids=[target.short_name for target in targets],
        scope="module",
    )
    if not targets:
        # An inventory without this group: the check does not apply, and says so.
        metafunc.definition.add_marker(pytest.mark.skip(reason=f"no hosts in group {group}"))


_hosts: dict[str, Any] = {}


@pytest.fixture(scope="module")
def host(target: Target) -> Any:
    """The Testinfra host for this target (one connection per host per run)."""
    if target.hostspec not in _hosts:
        _hosts[target.hostspec] = target.testinfra_host()
    return _hosts[target.hostspec]


@pytest.fixture(scope="module")
def spec(target: Target) -> Any:
    return target.spec
