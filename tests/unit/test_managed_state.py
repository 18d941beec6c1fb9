"""Files, units and accounts decided from one read: the facts' commands (run here with sh)
and parsers, and what each operation yields for what it finds."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from pyinfra import host
from pyinfra.api import (
    Config,
    FactBase,
    FileUploadCommand,
    Inventory,
    OperationError,
    State,
    StringCommand,
    operation,
)
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import FileContents
from typing_extensions import override

from roles import managed_files, managed_units, packages
from roles.bundled_reads import Bundled
from roles.common.facts import KernelSettings
from roles.managed_files import PathState, PathStates
from roles.managed_units import UnitState, UnitStates
from roles.once import (
    HINTS_ENV,
    managed,
    read_keyed,
    read_last_run,
    read_once,
    remember_managed,
)
from roles.packages import AptCacheAge
from roles.paths import SECRET_DIR
from roles.system_accounts import Account, SystemAccount, system_account
from tests.unit.pyinfra_host import FactHost


def _read(fact: Any, **arguments: Any) -> Any:
    """What pyinfra makes of the fact's command run here: no output is the fact's default."""
    command = fact.command(**arguments)
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    output = result.stdout.splitlines()
    return fact.process(output) if output else fact.default()


def test_path_states_reports_each_existing_path_in_one_command(tmp_path: Path) -> None:
    (tmp_path / "conf").write_text("x = 1\n")
    (tmp_path / "conf").chmod(0o640)
    (tmp_path / "empty").touch()
    (tmp_path / "dir with space").mkdir(mode=0o750)
    (tmp_path / "link").symlink_to("/usr/share/zoneinfo/UTC")
    paths = [str(tmp_path / name) for name in ("conf", "empty", "dir with space", "link", "gone")]
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()

    found = _read(PathStates(), paths=paths)

    assert found[paths[0]] == PathState(
        "file", 0o640, user, group, hashlib.sha1(b"x = 1\n", usedforsecurity=False).hexdigest()
    )
    assert found[paths[1]].kind == "file"
    assert found[paths[1]].sha1 == hashlib.sha1(b"", usedforsecurity=False).hexdigest()
    assert found[paths[2]] == PathState("directory", 0o750, user, group)
    assert found[paths[3]] == PathState("link", target="/usr/share/zoneinfo/UTC")
    assert paths[4] not in found
    assert _read(PathStates(), paths=[paths[4]]) == {}  # nothing exists yet: no output


SYSTEMCTL_SHOW = """\
Id=kafka.service
SubState=running
UnitFileState=enabled

Id=timestack-retention.timer
SubState=dead
UnitFileState=disabled

Id=not-there.service
SubState=dead
UnitFileState=
"""


def test_unit_states_parses_one_block_per_unit() -> None:
    assert UnitStates().process(SYSTEMCTL_SHOW.splitlines()) == {
        "kafka.service": UnitState(running=True, enabled=True),
        "timestack-retention.timer": UnitState(running=False, enabled=False),
        "not-there.service": UnitState(running=False, enabled=False),
    }


def test_system_account_reads_an_existing_user_and_a_missing_one() -> None:
    root = _read(SystemAccount(), user="root", group="root")
    assert root.user_exists and root.group_exists
    assert (root.primary_group, root.home) == ("root", "/root")
    missing = "timestack-no-such-user"
    absent = _read(SystemAccount(), user=missing, group=missing)
    assert absent == Account(group_exists=False, user_exists=False)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FactHost]:
    monkeypatch.setenv(HINTS_ENV, str(tmp_path))  # no hints of the last run on this machine
    with FactHost().context() as fact_host:
        yield fact_host


def _commands(operation: Any, **arguments: Any) -> list[str]:
    return [
        f"upload {c.dest}" if isinstance(c, FileUploadCommand) else str(c.get_raw_value())
        for c in operation._inner(**arguments)
    ]


CONTENT = b"listen = 1\n"
SHA1 = hashlib.sha1(CONTENT, usedforsecurity=False).hexdigest()


def _put(**overrides: Any) -> dict[str, Any]:
    arguments = {
        "dest": "/etc/app/app.conf",
        "content": CONTENT,
        "user": "app",
        "group": "app",
        "mode": 0o640,
        "secret": False,
        "managed": ["/etc/app/app.conf", "/etc/app"],
    }
    return arguments | overrides


def test_a_matching_file_is_a_noop_and_a_wrong_mode_only_a_chmod(fake: FactHost) -> None:
    fake.facts[PathStates] = {
        "/etc/app": PathState("directory", 0o755, "root", "root"),
        "/etc/app/app.conf": PathState("file", 0o640, "app", "app", SHA1),
        "/etc/app/other.conf": PathState("file", 0o644, "root", "app", SHA1),
    }
    assert _commands(managed_files._put, **_put()) == []
    assert fake.noops == ["/etc/app/app.conf is as managed"]
    other = _put(dest="/etc/app/other.conf")
    assert _commands(managed_files._put, **other) == [
        "chmod 640 /etc/app/other.conf",  # files.put's order: mode, then owner
        "chown app:app /etc/app/other.conf",
    ]


def test_a_missing_file_is_uploaded_then_owned_and_its_directory_made(fake: FactHost) -> None:
    fake.facts[PathStates] = {}
    assert _commands(managed_files._put, **_put()) == [
        "mkdir -p /etc/app",
        "chown app:app /etc/app",
        "upload /etc/app/app.conf",
        "chown app:app /etc/app/app.conf",
        "chmod 640 /etc/app/app.conf",
    ]


def test_a_secret_gets_owner_and_mode_before_it_is_moved_into_place(fake: FactHost) -> None:
    fake.facts[PathStates] = {
        "/etc/app": PathState("directory", 0o755, "root", "root"),
        "/etc/app/app.conf": PathState("file", 0o640, "app", "app", "0" * 40),
    }
    staged = f"{SECRET_DIR}/etc_app_app.conf"
    assert _commands(managed_files._put, **_put(secret=True)) == [
        f"install -d -m 0700 /var/lib/timestack {SECRET_DIR}",
        f"upload {staged}",
        f"chown app:app {staged}",
        f"chmod 640 {staged}",
        f"mv -f {staged} /etc/app/app.conf",
    ]


def test_a_directory_where_a_file_belongs_is_refused(fake: FactHost) -> None:
    fake.facts[PathStates] = {"/etc/app/app.conf": PathState("directory", 0o755, "root", "root")}
    with pytest.raises(OperationError, match="is a directory, not a file"):
        _commands(managed_files._put, **_put())


def test_directories_and_links_change_only_what_differs(fake: FactHost) -> None:
    fake.facts[PathStates] = {
        "/var/lib/app": PathState("directory", 0o750, "root", "app"),
        "/opt/app": PathState("link", target="/opt/app-1.0"),
        "/opt/tool": PathState("file", 0o755, "root", "root", SHA1),
    }
    arguments = {"path": "/var/lib/app", "user": "app", "group": "app", "mode": 0o750}
    assert _commands(managed_files._directory, **arguments, managed=["/var/lib/app"]) == [
        "chown app:app /var/lib/app"
    ]
    link = {"path": "/opt/app", "managed": ["/opt/app", "/opt"]}
    assert _commands(managed_files._link, **link, target="/opt/app-1.0") == []
    assert _commands(managed_files._link, **link, target="/opt/app-2.0") == [
        "rm -f /opt/app",
        "ln -s /opt/app-2.0 /opt/app",
    ]
    over_a_file = {"path": "/opt/tool", "managed": ["/opt/tool"], "target": "/opt/app/tool"}
    assert _commands(managed_files._link, **over_a_file) == [
        "rm -rf /opt/tool",
        "ln -s /opt/app/tool /opt/tool",
    ]


def test_a_roles_units_are_read_in_one_systemctl_show(fake: FactHost) -> None:
    fake.facts[UnitStates] = {"app.service": UnitState(running=False, enabled=False)}
    units = managed(UnitStates, "app.service", "app.timer")
    common = {"units": units, "reloaded": False, "restarted": False}
    assert _commands(
        managed_units._service, unit="app.service", **common, running=True, enabled=True
    ) == [
        "systemctl start app.service",
        "systemctl enable app.service",
    ]
    assert (
        _commands(managed_units._service, unit="app.timer", **common, running=False, enabled=None)
        == []
    )
    assert fake.reads == [UnitStates]
    assert managed_units._unit_name("postgresql@17-main") == "postgresql@17-main.service"
    assert managed_units._unit_name("timestack-retention.timer") == "timestack-retention.timer"


@pytest.mark.parametrize(
    ("found", "commands"),
    [
        (
            Account(group_exists=False, user_exists=False),
            [
                "groupadd -r kafka",
                "useradd -d /nonexistent -s /usr/sbin/nologin -g kafka -r -M kafka",
            ],
        ),
        (
            Account(True, True, "kafka", "/home/kafka", "/usr/sbin/nologin"),
            ["usermod -d /nonexistent kafka"],
        ),
    ],
)
def test_the_account_is_created_with_its_group_or_corrected(
    fake: FactHost, found: Account, commands: list[str]
) -> None:
    fake.facts[SystemAccount] = found
    assert _commands(system_account, user="kafka", group="kafka", home="/nonexistent") == commands


def test_a_miss_reads_what_the_role_named_and_nothing_knows_yet(fake: FactHost) -> None:
    asked: list[tuple[str, ...]] = []

    def path_states(paths: tuple[str, ...]) -> dict[str, PathState]:
        asked.append(paths)
        return {"/a": PathState("directory", 0o755, "root", "root")}

    fake.facts[PathStates] = path_states
    batch = managed(PathStates, "/a", "/b")
    assert read_keyed(PathStates, "/b", batch) is None  # absent, and known to be
    assert read_keyed(PathStates, "/a", batch) == PathState("directory", 0o755, "root", "root")
    assert read_keyed(PathStates, "/c", managed(PathStates, "/c")) is None
    assert asked == [("/b", "/a"), ("/c",)]


def test_what_the_roles_manage_is_collected_per_host_and_fact(fake: FactHost) -> None:
    first = managed(PathStates, "/a", "/b")
    assert managed(PathStates, "/b", "/c") is first
    assert first == ["/a", "/b", "/c"]
    assert managed(UnitStates, "a.service") == ["a.service"]
    fake.host.current_deploy_name = "Other role"
    assert managed(PathStates, "/d") is first  # every role's paths in one read


def test_the_first_read_asks_for_what_the_last_run_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HINTS_ENV, str(tmp_path))
    with FactHost("@docker/ts-db1").context():
        managed(PathStates, "/a", "/b")
        managed(UnitStates, "a.service")
        remember_managed()
    asked: list[tuple[str, ...]] = []

    def path_states(paths: tuple[str, ...]) -> dict[str, PathState]:
        asked.append(paths)
        return {}

    with FactHost("@docker/ts-db1").context() as next_run:
        next_run.facts[PathStates] = path_states
        # The first operation is called and reads before the second names "/b": one read.
        assert read_keyed(PathStates, "/c", managed(PathStates, "/c")) is None
        assert read_keyed(PathStates, "/b", managed(PathStates, "/b")) is None
        assert asked == [("/c", "/a", "/b")]
        remember_managed()  # this run named /c and /b: /a is no longer asked for
    with FactHost("@docker/ts-db1").context():
        assert managed(PathStates) == ["/c", "/b"]
        assert managed(UnitStates) == []
    with FactHost("@docker/ts-db2").context():
        assert managed(PathStates) == []  # hints are per host


def _bundled_here(asked: list[int]) -> Any:
    """`Bundled` as the host would answer it: its command run on this machine."""

    def read(commands: tuple[str, ...]) -> Any:
        asked.append(len(commands))
        return Bundled().process(_run_here(Bundled().command(commands)))

    return read


def _run_here(command: str) -> list[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout.splitlines()


def test_what_the_last_run_read_is_read_while_preparing_in_one_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HINTS_ENV, str(tmp_path))
    keys = ("vm.swappiness", "fs.file-max")
    with FactHost("@docker/ts-db1").context() as run:
        run.facts[KernelSettings] = {}
        run.facts[AptCacheAge] = 5
        read_once(KernelSettings, keys=keys)
        read_once(AptCacheAge)
        run.state.trigger_callbacks("host_disconnect", run.host)  # the run ends
    asked: list[int] = []
    with FactHost("@docker/ts-db1").context() as next_run:
        next_run.facts[Bundled] = _bundled_here(asked)
        read_last_run()  # deploy.py, before the first role: preparing
        assert next_run.reads == [Bundled] and asked == [2]  # both, in one command
        # The operations, executing later, find both as read on the host.
        assert read_once(AptCacheAge) == AptCacheAge().process(_run_here(AptCacheAge().command()))
        assert read_once(KernelSettings, keys=keys).keys() == set(keys)
        assert next_run.reads == [Bundled]
        next_run.state.trigger_callbacks("host_disconnect", next_run.host)
    with FactHost("@docker/ts-db1").context() as third:
        third.facts[Bundled] = _bundled_here(asked)
        read_last_run()
        read_once(AptCacheAge)  # this run's operations no longer ask for the settings
        third.state.trigger_callbacks("host_disconnect", third.host)
    with FactHost("@docker/ts-db1").context() as fourth:
        fourth.facts[Bundled] = _bundled_here(asked)
        read_last_run()
        assert asked[-1] == 1  # a hint read alone is not kept
    with FactHost("@docker/ts-db2").context() as other:
        read_last_run()
        assert other.reads == []  # hints are per host


def test_a_hint_of_a_fact_that_is_gone_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HINTS_ENV, str(tmp_path))
    (tmp_path / "managed").mkdir()
    (tmp_path / "managed" / "db1.reads.json").write_text(
        '[["roles.packages", "Renamed", []], ["no.such.module", "Fact", []],'
        ' ["roles.packages", "AptCacheAge", []]]'
    )
    asked: list[int] = []
    with FactHost("db1").context() as run:
        run.facts[Bundled] = _bundled_here(asked)
        read_last_run()
        assert asked == [1]


def test_packages_are_read_once_for_every_role(fake: FactHost) -> None:
    fake.facts[DebPackages] = {"curl": {"8.14.1-2"}}
    assert _commands(packages.installed, packages=["curl"]) == []
    (install,) = _commands(packages.installed, packages=["curl", "jq"])
    assert install.endswith("install jq")
    assert fake.reads == [DebPackages]


@pytest.mark.parametrize(("age", "refreshed"), [(600, False), (None, True), (3600, True)])
def test_the_apt_cache_is_refreshed_only_when_older_than_its_limit(
    fake: FactHost, age: int | None, refreshed: bool
) -> None:
    fake.facts[AptCacheAge] = age  # None: never refreshed
    commands = _commands(packages.cache_fresh, cache_seconds=3600)
    assert (commands[:1] == ["apt-get update"]) is refreshed
    assert AptCacheAge().process(["1764600000", "1764603600"]) == 3600
    assert AptCacheAge().process([]) is None


def test_what_packages_only_recommend_can_be_left_out(fake: FactHost) -> None:
    fake.facts[DebPackages] = {}
    (install,) = _commands(packages.installed, packages=["prometheus"], no_recommends=True)
    assert "install --no-install-recommends prometheus" in install


DRIFTED = {
    "/etc/app": PathState("directory", 0o755, "root", "root"),
    "/etc/app/app.conf": PathState("file", 0o640, "app", "app", "0" * 40),
}


def test_diff_shows_how_a_drifted_file_changes(
    fake: FactHost, caplog: pytest.LogCaptureFixture
) -> None:
    fake.facts[PathStates] = DRIFTED
    fake.facts[FileContents] = lambda path: ["# managed by Timestack", "listen = 0"]
    fake.state.config.DIFF = True
    caplog.set_level(logging.INFO, logger="pyinfra")
    content = b"# managed by Timestack\nlisten = 1\n"
    _commands(managed_files._put, **_put(content=content))
    logged = [click.unstyle(record.getMessage()) for record in caplog.records]
    assert "Will modify /etc/app/app.conf" in logged[0]
    assert logged[1:] == [
        "  @@ -1,2 +1,2 @@",
        "    # managed by Timestack",
        "  - listen = 0",
        "  + listen = 1",
        "",
    ]


def test_diff_never_shows_a_secret_nor_a_file_without_diff(
    fake: FactHost, caplog: pytest.LogCaptureFixture
) -> None:
    fake.facts[PathStates] = DRIFTED
    caplog.set_level(logging.INFO, logger="pyinfra")
    _commands(managed_files._put, **_put())  # without --diff: nothing said, nothing read
    assert caplog.records == []
    fake.state.config.DIFF = True
    _commands(managed_files._put, **_put(secret=True))
    logged = "\n".join(click.unstyle(record.getMessage()) for record in caplog.records)
    assert "Will modify /etc/app/app.conf" in logged
    assert "listen" not in logged
    assert FileContents not in fake.reads


@operation()
def _want(path: str, line: str) -> Generator[StringCommand, None, None]:
    """Write `line` to `path` unless read_once says it is there."""
    if read_once(LocalFile, path=path) == line:
        host.noop(f"{path} says {line}")
        return
    yield StringCommand(f"echo {line} > {path}")


class LocalFile(FactBase[str]):
    @override
    def command(self, path: str) -> str:
        return f"cat {path}"

    @override
    def process(self, output: list[str]) -> str:
        LocalFile.reads += 1
        return output[0]

    reads = 0


@pytest.mark.parametrize("yes", [True, False], ids=["-y", "prompt"])
def test_a_fact_is_read_again_only_after_an_operation_changed_the_host(
    tmp_path: Path, yes: bool
) -> None:
    """pyinfra's own run on this machine (@local): with -y the operations read when they
    execute; without, they read while preparing (--dry stops there) and when executing."""
    path = tmp_path / "file"
    path.write_text("one\n")
    LocalFile.reads = 0
    state = State(Inventory((["@local"], {})), Config(), check_for_changes=not yes)
    state.set_stage(StateStage.Connect)
    connect_all(state)
    state.set_stage(StateStage.Prepare)
    metas = [
        add_op(state, _want, path=str(path), line=line) for line in ("one", "one", "two", "two")
    ]
    assert LocalFile.reads == (0 if yes else 1)  # --dry: one read for all four
    state.set_stage(StateStage.Execute)
    run_ops(state)
    changed = [meta for results in metas for meta in results.values() if meta.did_change()]
    assert len(changed) == 1
    assert LocalFile.reads == 2  # again after the third operation wrote the file
    assert path.read_text() == "two\n"
