"""pytest plugin: `pytest tests/verify --inventory inventory/prod.py`.

Each check is marked with the inventory group it is for (`@pytest.mark.group("kafka")`,
default "all") and runs once per host of that group, as `host` (a Testinfra host) with
`spec` (that host's validated Timestack data). Checks only read: users run them on production.
The inventory is loaded once per run; Testinfra's `--hosts` selects inventory hosts by name,
and its connection options are refused (the inventory says how each host is reached).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roles.spec import HostSpec, SpecError
from tests.verify.targets import Target, load_targets

# Testinfra's own ways to say how to reach hosts: here the inventory says it, per host.
INVENTORY_DECIDES = {
    "connection": "the connector of each inventory host (ssh, @docker/, @local)",
    "ssh_config": "ssh_config_file in host data",
    "ssh_extra_args": "ssh_known_hosts_file / ssh_strict_host_key_checking in host data",
    "ssh_identity_file": "ssh_key in host data",
    "sudo": "_sudo in host data",
    "sudo_user": "_sudo_user in host data",
    "ansible_inventory": "--inventory (a pyinfra inventory)",
    "force_ansible": "--inventory (a pyinfra inventory)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--inventory",
        default="inventory/lab.py",
        help="pyinfra inventory whose hosts the checks run against (default: the lab)",
    )
    parser.addoption(
        "--group-data",
        action="append",
        default=[],
        metavar="DIR",
        help="more group data, as pyinfra's --group-data (after group_data/ in the current "
        "directory and beside the inventory; repeatable, later wins)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "group(name): run this check on hosts of that group")
    given = [name for name in INVENTORY_DECIDES if config.getoption(name, default=None)]
    if given:
        lines = [f"--{n.replace('_', '-')}: set {INVENTORY_DECIDES[n]} instead" for n in given]
        raise pytest.UsageError("the inventory decides how hosts are reached:\n" + "\n".join(lines))
    group_data = config.getoption("--group-data")
    missing = [folder for folder in group_data if not Path(folder).is_dir()]
    if missing:
        raise pytest.UsageError(f"--group-data: no such directory: {', '.join(missing)}")
    try:
        targets = load_targets(config.getoption("--inventory"), group_data)
    except SpecError as error:
        raise pytest.UsageError(f"the inventory's data is invalid:\n{error}") from None
    config.stash[_TARGETS] = selected_targets(targets, config.getoption("hosts", default=None))


def selected_targets(targets: list[Target], hosts: str | None) -> list[Target]:
    """Testinfra's --hosts, as inventory names: only those hosts are checked."""
    if not hosts:
        return targets
    wanted = [name.strip() for name in hosts.split(",") if name.strip()]
    known = {target.short_name: target for target in targets} | {t.name: t for t in targets}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"--hosts: {', '.join(unknown)} not in the inventory (hosts: "
            f"{', '.join(t.short_name for t in targets)})"
        )
    return [target for target in targets if {target.name, target.short_name} & set(wanted)]


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
def spec(target: Target) -> HostSpec:
    return target.spec


@pytest.fixture(scope="session")
def inventory_specs(request: pytest.FixtureRequest) -> dict[str, HostSpec]:
    """Every inventory host's spec by name (checks that span hosts: what the monitoring host
    scrapes, a primary's standbys)."""
    return {target.name: target.spec for target in request.config.stash[_TARGETS]}
