"""Files, units and accounts decided from one read: the facts' commands (run here with sh)
and parsers, and what each operation yields for what it finds."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import FileUploadCommand, OperationError
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_host, ctx_state

from roles import managed_files, managed_units
from roles.managed_files import PathState, PathStates
from roles.managed_units import UnitState, UnitStates
from roles.once import managed, read_once
from roles.paths import SECRET_DIR
from roles.system_accounts import Account, SystemAccount, system_account


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


class FakeHost:
    """What the operations use of pyinfra's Host: facts, noop, the op's global arguments."""

    def __init__(self, facts: dict[type[Any], Any]) -> None:
        self.facts = facts
        self.reads: list[type[Any]] = []
        self.noops: list[str] = []
        self.current_deploy_name = "Role"
        self.current_op_global_arguments = {"_sudo": True, "_temp_dir": "/home/deploy/.stage"}
        self.name = "db1"

    def get_fact(self, fact: type[Any], **arguments: Any) -> Any:
        self.reads.append(fact)
        return self.facts[fact]

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def get_temp_filename(self, key: str, temp_directory: str | None = None) -> str:
        return f"{temp_directory}/{hashlib.sha1(key.encode()).hexdigest()}"


class FakeState:
    def __init__(self, stage: StateStage = StateStage.Execute) -> None:
        self.current_stage = stage


@pytest.fixture
def fake() -> Iterator[FakeHost]:
    fake_host = FakeHost({})
    with ctx_host.use(fake_host), ctx_state.use(FakeState()):
        yield fake_host


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


def test_a_matching_file_is_a_noop_and_a_wrong_mode_only_a_chmod(fake: FakeHost) -> None:
    fake.facts[PathStates] = {
        "/etc/app": PathState("directory", 0o755, "root", "root"),
        "/etc/app/app.conf": PathState("file", 0o640, "app", "app", SHA1),
    }
    assert _commands(managed_files._put, **_put()) == []
    assert fake.noops == ["/etc/app/app.conf is as managed"]
    # Another role's snapshot (other paths): read anew.
    fake.facts[PathStates] = {"/etc/app/app.conf": PathState("file", 0o644, "app", "app", SHA1)}
    only_the_file = _put(managed=["/etc/app/app.conf"])
    assert _commands(managed_files._put, **only_the_file) == ["chmod 640 /etc/app/app.conf"]


def test_a_missing_file_is_uploaded_then_owned_and_its_directory_made(fake: FakeHost) -> None:
    fake.facts[PathStates] = {}
    assert _commands(managed_files._put, **_put()) == [
        "mkdir -p /etc/app",
        "upload /etc/app/app.conf",
        "chown app:app /etc/app/app.conf",
        "chmod 640 /etc/app/app.conf",
    ]


def test_a_secret_gets_owner_and_mode_before_it_is_moved_into_place(fake: FakeHost) -> None:
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


def test_a_directory_where_a_file_belongs_is_refused(fake: FakeHost) -> None:
    fake.facts[PathStates] = {"/etc/app/app.conf": PathState("directory", 0o755, "root", "root")}
    with pytest.raises(OperationError, match="is a directory, not a file"):
        _commands(managed_files._put, **_put())


def test_directories_and_links_change_only_what_differs(fake: FakeHost) -> None:
    fake.facts[PathStates] = {
        "/var/lib/app": PathState("directory", 0o750, "root", "app"),
        "/opt/app": PathState("link", target="/opt/app-1.0"),
    }
    arguments = {"path": "/var/lib/app", "user": "app", "group": "app", "mode": 0o750}
    assert _commands(managed_files._directory, **arguments, managed=["/var/lib/app"]) == [
        "chown app:app /var/lib/app"
    ]
    link = {"path": "/opt/app", "managed": ["/opt/app"]}
    assert _commands(managed_files._link, **link, target="/opt/app-1.0") == []
    assert _commands(managed_files._link, **link, target="/opt/app-2.0") == [
        "ln -sfn /opt/app-2.0 /opt/app"
    ]


def test_a_unit_started_by_one_operation_is_running_for_the_next(fake: FakeHost) -> None:
    fake.facts[UnitStates] = {"app.service": UnitState(running=False, enabled=False)}
    units = ["app.service"]
    common = {"unit": "app.service", "units": units, "reloaded": False}
    assert _commands(
        managed_units._service, **common, running=True, restarted=False, enabled=True
    ) == ["systemctl start app.service", "systemctl enable app.service"]
    assert _commands(
        managed_units._service, **common, running=None, restarted=True, enabled=None
    ) == ["systemctl restart app.service"]
    assert fake.reads == [UnitStates]  # one read for both


def test_the_account_is_created_with_its_group_or_corrected(fake: FakeHost) -> None:
    arguments = {"user": "kafka", "group": "kafka", "home": "/nonexistent"}
    fake.facts[SystemAccount] = Account(group_exists=False, user_exists=False)
    assert _commands(system_account, **arguments) == [
        "groupadd --system kafka",
        "useradd --system --gid kafka --home-dir /nonexistent --no-create-home "
        "--shell /usr/sbin/nologin kafka",
    ]
    fake.facts[SystemAccount] = Account(True, True, "kafka", "/home/kafka", "/usr/sbin/nologin")
    assert _commands(system_account, **arguments) == ["usermod -d /nonexistent kafka"]


def test_a_fact_is_read_once_per_stage(fake: FakeHost) -> None:
    fake.facts[PathStates] = {}
    for _ in range(3):
        read_once(PathStates, paths=("/a",))
    assert fake.reads == [PathStates]
    with ctx_state.use(FakeState(StateStage.Prepare)):  # --dry read it while preparing
        read_once(PathStates, paths=("/a",))
    assert fake.reads == [PathStates, PathStates]


def test_what_a_role_manages_is_collected_per_role(fake: FakeHost) -> None:
    first = managed("paths", "/a", "/b")
    assert managed("paths", "/b", "/c") is first
    assert first == ["/a", "/b", "/c"]
    fake.current_deploy_name = "Other role"
    assert managed("paths", "/a") == ["/a"]
