"""Checks for the common role, on every host."""

from __future__ import annotations

from typing import Any

import pytest

from roles.backup import config as backup_config
from roles.hostdata import host_pins
from roles.pins import matches, pinned_packages
from tests.verify import exposure
from tests.verify.targets import load_targets

SYSCTL_FILE = "/etc/sysctl.d/60-timestack.conf"
THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


def test_base_packages_installed(host: Any, spec: Any) -> None:
    missing = [name for name in spec.common.base_packages if not host.package(name).is_installed]
    assert not missing, f"base packages not installed: {missing}"


def test_pinned_packages_match_their_pins(
    host: Any, spec: Any, inventory_specs: dict[str, Any]
) -> None:
    monitored = any("monitoring" in other.groups for other in inventory_specs.values())
    wrong = {}
    for name, pin in pinned_packages(host_pins(spec, monitored)):
        package = host.package(name)
        if not package.is_installed:
            wrong[name] = f"not installed ({pin.field} {pin.value})"
        elif not matches(pin.value, package.version):
            wrong[name] = f"{package.version} installed, {pin.field} is {pin.value}"
    assert not wrong, f"packages their pins do not match: {wrong}"


def test_timezone(host: Any, spec: Any) -> None:
    zone = spec.common.timezone
    # zoneinfo names are themselves links (UTC -> Etc/UTC): compare where both end up.
    wanted = host.file(f"/usr/share/zoneinfo/{zone}").linked_to or f"/usr/share/zoneinfo/{zone}"
    assert host.file("/etc/localtime").linked_to == wanted
    assert host.file("/etc/timezone").content_string.strip() == zone


def test_kernel_settings_persisted(host: Any, spec: Any) -> None:
    persisted = _conf_values(host.file(SYSCTL_FILE).content_string)
    wanted = {key: str(value) for key, value in spec.common.sysctl.items()}
    assert persisted == wanted, f"{SYSCTL_FILE}: expected {wanted}, found {persisted}"


def test_kernel_settings_live(host: Any, spec: Any) -> None:
    wrong, read_only = {}, []
    for key, value in spec.common.sysctl.items():
        path = f"/proc/sys/{key.replace('.', '/')}"
        if not host.run(f"test -w {path}").succeeded:
            read_only.append(key)
            continue
        actual = host.sysctl(key)
        if str(actual) != str(value):
            wrong[key] = f"expected {value}, actual {actual}"
    assert not wrong, f"live kernel settings differ: {wrong}"
    if read_only:
        pytest.skip(f"read-only in this container, owned by its host kernel: {read_only}")


def test_transparent_hugepages_off(host: Any, spec: Any) -> None:
    unit = host.service("timestack-thp.service")
    assert unit.is_enabled, "timestack-thp.service is not enabled"
    mode = spec.common.transparent_hugepages
    if not host.run(f"test -w {THP_ENABLED}").succeeded:
        pytest.skip("sysfs is read-only in this container: the live THP mode is its host's")
    assert f"[{mode}]" in host.file(THP_ENABLED).content_string


def test_open_file_limit_for_services(host: Any, spec: Any) -> None:
    shown = host.check_output("systemctl show --property DefaultLimitNOFILE --value")
    assert int(shown) == spec.common.nofile, f"systemd DefaultLimitNOFILE is {shown}"


def test_open_file_limit_for_sessions(host: Any, spec: Any) -> None:
    limits = host.file("/etc/security/limits.d/60-timestack.conf").content_string
    for who in ("*", "root"):
        for kind in ("soft", "hard"):
            assert f"{who} {kind} nofile {spec.common.nofile}" in limits


def test_no_listener_on_every_address_unless_host_data_declares_it(
    host: Any, spec: Any, pytestconfig: pytest.Config
) -> None:
    specs = [t.spec for t in load_targets(pytestconfig.getoption("--inventory"))]
    tls_server = bool({"timescaledb", "pgbackrest_repo"} & spec.groups) and (
        backup_config.layout(spec, specs).tls_server
    )
    declared = exposure.declared_wildcard_ports(spec, tls_server)
    listeners = exposure.parse_ss(host.check_output("ss -Htlnp"))
    exposed = exposure.undeclared(listeners, declared)
    assert not exposed, (
        f"listening on every address, declared by no host data: {', '.join(map(str, exposed))}; "
        "bind the service to a specific address, or list the port in common.exposed_ports "
        f"(declared here: {declared})"
    )


def _conf_values(content: str) -> dict[str, str]:
    values = {}
    for line in content.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values
