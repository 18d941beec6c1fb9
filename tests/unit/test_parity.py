"""Each managed operation yields what pyinfra's own operation yields for the same host state.

Both run as pyinfra's operation tests run them: the generator (`_inner`) inside a host and
state context, with facts given (tests/unit/pyinfra_host.py). Each host state is written
once and handed to each side as its own facts: PathStates, UnitStates, SystemAccount,
DebPackages, AptCacheAge to Timestack's; File, Directory, Link, Sha1File, FileContents,
SystemdStatus, SystemdEnabled, Users, Groups, Os, Which, Date to pyinfra's. Run against the
installed pyinfra: a pyinfra that decides differently fails here.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from io import StringIO
from typing import Any, Literal

import click
import pytest
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Directory, File, FileContents, Link, Md5File, Sha1File, Sha256File
from pyinfra.facts.server import Date, Groups, Os, Users, Which
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations import apt, files, server, systemd

from roles import managed_files, managed_units, packages
from roles.managed_files import PathState, PathStates
from roles.managed_units import UnitState, UnitStates
from roles.packages import AptCacheAge, AptPolicy
from roles.pins import Pin, Policy
from roles.system_accounts import Account, SystemAccount, system_account
from tests.unit.pyinfra_host import FactHost, commands

CONF = "/etc/app/app.conf"
TEXT = "# managed by Timestack\nlisten = 1\n"
SHA1 = hashlib.sha1(TEXT.encode(), usedforsecurity=False).hexdigest()
ETC_APP = PathState("directory", 0o755, "root", "root")


@pytest.fixture
def fake() -> Iterator[FactHost]:
    with FactHost().context() as fact_host:
        yield fact_host


def _give_paths(fake: FactHost, paths: dict[str, PathState], contents: list[str]) -> None:
    """`paths` as PathStates and as pyinfra's per-path facts."""

    def stat(kind: Literal["file", "directory", "link"]) -> Callable[..., Any]:
        def fact(path: str) -> dict[str, Any] | Literal[False] | None:
            found = paths.get(path)
            if found is None:
                return None
            if found.kind != kind:
                return False
            mode = None if found.mode is None else int(f"{found.mode:o}")  # pyinfra's digits
            return {"user": found.user, "group": found.group, "mode": mode} | (
                {"link_target": found.target} if kind == "link" else {}
            )

        return fact

    def sha1(path: str) -> str | None:
        found = paths.get(path)
        return found.sha1 if found is not None else None

    fake.facts |= {
        PathStates: paths,
        File: stat("file"),
        Directory: stat("directory"),
        Link: stat("link"),
        Sha1File: sha1,
        Md5File: lambda path: None,
        Sha256File: lambda path: None,
        FileContents: lambda path: contents,
    }


PUT_STATES = {
    "absent, and its directory": {},
    "absent": {"/etc/app": ETC_APP},
    "other content": {"/etc/app": ETC_APP, CONF: PathState("file", 0o640, "app", "app", "0" * 40)},
    "wrong mode and owner": {
        "/etc/app": ETC_APP,
        CONF: PathState("file", 0o644, "root", "app", SHA1),
    },
    "as wanted": {"/etc/app": ETC_APP, CONF: PathState("file", 0o640, "app", "app", SHA1)},
}


@pytest.mark.parametrize("paths", PUT_STATES.values(), ids=PUT_STATES.keys())
@pytest.mark.parametrize(
    "owner", [("app", "app", "0640"), (None, None, None), (None, "app", None)], ids=str
)
def test_put_yields_files_put(
    fake: FactHost, paths: dict[str, PathState], owner: tuple[str | None, str | None, str | None]
) -> None:
    _give_paths(fake, paths, ["listen = 0"])
    user, group, mode = owner
    ours = commands(
        managed_files._put,
        dest=CONF,
        content=TEXT.encode(),
        user=user,
        group=group,
        mode=managed_files._mode(mode),
        secret=False,
        managed=[CONF, posixpath.dirname(CONF)],
    )
    assert ours == commands(
        files.put, src=StringIO(TEXT), dest=CONF, user=user, group=group, mode=mode
    )


@pytest.mark.parametrize("paths", list(PUT_STATES.values())[:3], ids=list(PUT_STATES)[:3])
def test_diff_is_files_puts(
    fake: FactHost, paths: dict[str, PathState], caplog: pytest.LogCaptureFixture
) -> None:
    _give_paths(fake, paths, ["# managed by Timestack", "listen = 0"])
    fake.state.config.DIFF = True
    caplog.set_level(logging.INFO, logger="pyinfra")

    def logged(operation: Callable[..., Any], **arguments: Any) -> list[str]:
        caplog.clear()
        commands(operation, dest=CONF, user="app", group="app", **arguments)
        return [click.unstyle(record.getMessage()) for record in caplog.records]

    ours = logged(
        managed_files._put,
        content=TEXT.encode(),
        mode=0o640,
        secret=False,
        managed=[CONF, "/etc/app"],
    )
    assert ours == logged(files.put, src=StringIO(TEXT), mode="0640")
    assert any(line.startswith("  + ") for line in ours)


DIRECTORY_STATES = {
    "absent": {},
    "wrong mode and owner": {"/var/lib/app": PathState("directory", 0o755, "root", "root")},
    "as wanted": {"/var/lib/app": PathState("directory", 0o750, "app", "app")},
}


@pytest.mark.parametrize("paths", DIRECTORY_STATES.values(), ids=DIRECTORY_STATES.keys())
@pytest.mark.parametrize("owner", [("app", "app", "0750"), (None, None, None)], ids=str)
def test_directory_yields_files_directory(
    fake: FactHost, paths: dict[str, PathState], owner: tuple[str | None, str | None, str | None]
) -> None:
    _give_paths(fake, paths, [])
    user, group, mode = owner
    ours = commands(
        managed_files._directory,
        path="/var/lib/app",
        user=user,
        group=group,
        mode=managed_files._mode(mode),
        managed=["/var/lib/app"],
    )
    assert ours == commands(files.directory, path="/var/lib/app", user=user, group=group, mode=mode)


LINK_STATES = {
    "absent": {"/opt": ETC_APP},
    "absent, and its directory": {},
    "pointing elsewhere": {"/opt": ETC_APP, "/opt/app": PathState("link", target="/opt/app-1")},
    "as wanted": {"/opt": ETC_APP, "/opt/app": PathState("link", target="/opt/app-2")},
    "a file": {"/opt": ETC_APP, "/opt/app": PathState("file", 0o644, "root", "root", SHA1)},
}


@pytest.mark.parametrize("paths", LINK_STATES.values(), ids=LINK_STATES.keys())
def test_link_yields_files_link_replacing_what_is_there(
    fake: FactHost, paths: dict[str, PathState]
) -> None:
    _give_paths(fake, paths, [])
    ours = commands(managed_files._link, path="/opt/app", target="/opt/app-2", managed=["/opt"])
    assert ours == commands(
        files.link, path="/opt/app", target="/opt/app-2", force=True, force_backup=False
    )


UNIT_STATES = [
    UnitState(running, enabled) for running in (True, False) for enabled in (True, False)
]
SERVICE_CALLS = [
    {"running": True, "enabled": True},
    {"running": False, "enabled": False},
    {"running": None, "enabled": True},
    {"running": True, "restarted": True},
    {"running": None, "restarted": True},
    {"running": None, "reloaded": True},
    {"running": True},
]


@pytest.mark.parametrize("unit_state", UNIT_STATES, ids=str)
@pytest.mark.parametrize("call", SERVICE_CALLS, ids=str)
def test_service_yields_systemd_service(
    fake: FactHost, unit_state: UnitState, call: dict[str, Any]
) -> None:
    unit = "pgbouncer.service"
    fake.facts |= {
        UnitStates: {unit: unit_state},
        SystemdStatus: lambda **_: {unit: unit_state.running},
        SystemdEnabled: lambda **_: {unit: unit_state.enabled},
    }
    arguments = {"running": None, "restarted": False, "reloaded": False, "enabled": None} | call
    ours = commands(
        managed_units._service, unit=managed_units._unit_name("pgbouncer"), units=[], **arguments
    )
    assert ours == commands(systemd.service, service="pgbouncer", **arguments)


def test_unit_states_is_pyinfras_systemctl_show_and_parsers() -> None:
    status = SystemdStatus().command(services=["a.service"]).get_raw_value()
    ours = UnitStates().command(["a.service"]).get_raw_value()
    assert ours == f"{status} --property {SystemdEnabled.state_key}"
    output = ["Id=a.service", "SubState=exited", "UnitFileState=static", ""]
    assert UnitStates().process(output) == {"a.service": UnitState(running=True, enabled=True)}


ACCOUNTS = {
    "neither": Account(group_exists=False, user_exists=False),
    "the group": Account(group_exists=True, user_exists=False),
    "as wanted": Account(True, True, "kafka", "/nonexistent", "/usr/sbin/nologin"),
    "elsewhere": Account(True, True, "users", "/home/kafka", "/bin/bash"),
    "another shell": Account(True, True, "kafka", "/nonexistent", "/bin/sh"),
}


@pytest.mark.parametrize("account", ACCOUNTS.values(), ids=ACCOUNTS.keys())
def test_system_account_yields_server_group_then_server_user(
    fake: FactHost, account: Account
) -> None:
    users: dict[str, dict[str, Any]] = {}
    if account.user_exists:
        users["kafka"] = {
            "home": account.home,
            "shell": account.shell,
            "group": account.primary_group,
            "groups": [],
            "comment": None,
            "password": None,
        }
    fake.facts |= {
        SystemAccount: account,
        Groups: ["root", "kafka"] if account.group_exists else ["root"],
        Users: users,
        Os: "Linux",
        Which: lambda command: f"/usr/sbin/{command}",
    }
    wanted = {"home": "/nonexistent", "shell": "/usr/sbin/nologin", "group": "kafka"}
    ours = commands(system_account, user="kafka", **wanted)
    pyinfras = commands(server.group, group="kafka", system=True) + commands(
        server.user, user="kafka", system=True, ensure_home=False, **wanted
    )
    assert ours == pyinfras


PACKAGE_CALLS = [
    {"packages": ["curl", "jq"]},
    {"packages": ["curl"]},
    {"packages": ["jq=1.7.1-6"]},
    {"packages": ["curl=8.14.1-2"]},
    {"packages": ["prometheus", "jq"], "no_recommends": True},
]


@pytest.mark.parametrize("call", PACKAGE_CALLS, ids=str)
def test_installed_yields_apt_packages(fake: FactHost, call: dict[str, Any]) -> None:
    fake.facts[DebPackages] = {"curl": {"8.14.1-2"}, "jq": {"1.7.1-5"}}
    assert commands(packages.installed, **call) == commands(apt.packages, **call)


PINNED_POLICY = {
    "pgbouncer": Policy("1.24.1-1", "1.25.0-1", ("1.25.0-1", "1.24.1-1", "1.23.1-2")),
    "jq": Policy("1.7.1-5", "1.7.1-6", ("1.7.1-6", "1.7.1-5")),
}
# (pins, what apt.packages is asked for the same host: resolved versions, downgrades allowed)
PINNED_CALLS = {
    "kept": ({"pgbouncer": "1.24*"}, {"packages": ["curl"]}),
    "installed": ({"jq": "1.7.1-6"}, {"packages": ["curl", "jq=1.7.1-6"]}),
    "upgraded": ({"pgbouncer": "1.25*"}, {"packages": ["curl", "pgbouncer=1.25.0-1"]}),
    "latest": ({"pgbouncer": "latest"}, {"packages": ["curl", "pgbouncer=1.25.0-1"]}),
    "downgraded": (
        {"pgbouncer": "1.23.1-2", "jq": "1.7*"},
        {"packages": ["curl", "pgbouncer=1.23.1-2", "jq=1.7.1-6"], "allow_downgrades": True},
    ),
}


@pytest.mark.parametrize("call", PINNED_CALLS.values(), ids=PINNED_CALLS.keys())
@pytest.mark.parametrize("no_recommends", [False, True], ids=["", "no-recommends"])
def test_pinned_installs_yield_apt_packages_of_the_resolved_versions(
    fake: FactHost, call: tuple[dict[str, str], dict[str, Any]], no_recommends: bool
) -> None:
    fake.facts[DebPackages] = {"curl": {"8.14.1-2"}, "pgbouncer": {"1.24.1-1"}}
    fake.facts[AptPolicy] = PINNED_POLICY
    pinned, theirs = call
    pins = [Pin(f"{name}.version", value, (name,)) for name, value in pinned.items()]
    ours = commands(packages.installed, packages=["curl"], no_recommends=no_recommends, pins=pins)
    assert ours == commands(apt.packages, no_recommends=no_recommends, **theirs)
    assert ours or fake.noops  # a kept pin says so


@pytest.mark.parametrize("age", [600, 7200, None], ids=str)
def test_cache_fresh_is_apt_update_and_makes_the_stamps_directory(
    fake: FactHost, age: int | None
) -> None:
    now = datetime(2026, 12, 1, 12, 0)
    fake.facts |= {
        AptCacheAge: age,
        File: lambda path: None if age is None else {"mtime": now - timedelta(seconds=age)},
        Date: now,
    }
    pyinfras = commands(apt.update, cache_time=3600)
    if pyinfras:  # Debian's minimal images have no /var/lib/apt/periodic
        pyinfras.insert(1, f"mkdir -p {posixpath.dirname(packages.UPDATE_STAMP)}")
    assert commands(packages.cache_fresh, cache_seconds=3600) == pyinfras
