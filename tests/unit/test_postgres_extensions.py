"""Extensions follow their packages: which updates, in what order, as what commands; and the
extensions the role creates."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator

import pytest

from roles.postgres import config, operations
from roles.postgres.extensions import (
    InstalledExtension,
    Session,
    mismatches,
    parse,
    update_sessions,
)
from roles.postgres.facts import ExtensionVersions
from roles.spec import DatabaseSpec
from tests.unit.pyinfra_host import FactHost, commands


def ext(database: str, name: str, installed: str, default: str | None) -> InstalledExtension:
    return InstalledExtension(database, name, installed, default)


def test_rows_are_split_from_the_right_so_a_database_name_may_hold_a_bar() -> None:
    assert parse("odd|db|pg_stat_statements|1.4|1.11") == ext(
        "odd|db", "pg_stat_statements", "1.4", "1.11"
    )
    assert parse("telemetry|gone|1.0|") == ext("telemetry", "gone", "1.0", None)


def test_current_extensions_need_no_session() -> None:
    found = [ext("telemetry", "timescaledb", "2.19.3", "2.19.3"), ext("x", "y", "1", None)]
    assert update_sessions(found) == []


def test_timescaledb_is_the_only_statement_of_the_first_session_of_its_database() -> None:
    found = [
        ext("telemetry", "postgis", "3.5.2", "3.5.3"),
        ext("telemetry", "pg_stat_statements", "1.4", "1.11"),
        ext("telemetry", "timescaledb", "2.19.3", "2.21.0"),
        ext("postgres", "pg_stat_statements", "1.10", "1.11"),
        ext("postgres", "plpgsql", "1.0", "1.0"),
    ]
    assert update_sessions(found) == [
        Session("postgres", "ALTER EXTENSION \"pg_stat_statements\" UPDATE TO '1.11'"),
        Session("telemetry", "ALTER EXTENSION \"timescaledb\" UPDATE TO '2.21.0'"),
        Session(
            "telemetry",
            "ALTER EXTENSION \"pg_stat_statements\" UPDATE TO '1.11'; "
            "ALTER EXTENSION \"postgis\" UPDATE TO '3.5.3'",
        ),
    ]


def test_an_extension_no_package_offers_is_left_alone_and_reported() -> None:
    found = [ext("telemetry", "gone", "1.0", None), ext("telemetry", "ok", "2", "2")]
    assert update_sessions(found) == []
    assert mismatches(found) == ["telemetry.gone: installed 1.0, no package offers it"]


@pytest.fixture
def fake() -> Iterator[FactHost]:
    with FactHost().context() as fact_host:
        yield fact_host


def test_each_session_is_a_fresh_psql_with_no_startup_file(fake: FactHost) -> None:
    fake.facts[ExtensionVersions] = [
        ext("telemetry", "timescaledb", "2.19.3", "2.21.0"),
        ext("telemetry", "pg_stat_statements", "1.4", "1.11"),
    ]
    first, second = commands(operations.extension_updates, version=17, cluster="main")
    for command, sql in [
        (first, "ALTER EXTENSION \"timescaledb\" UPDATE TO '2.21.0'"),
        (second, "ALTER EXTENSION \"pg_stat_statements\" UPDATE TO '1.11'"),
    ]:
        words = shlex.split(command)
        assert words[words.index("-d") + 1] == "telemetry"
        assert "-XAtq" in words  # -X: no psqlrc runs anything before the update
        assert words[-2:] == ["-c", sql]  # the session's only command line


def test_current_or_offline_is_a_noop_read_once(fake: FactHost) -> None:
    fake.facts[ExtensionVersions] = [ext("telemetry", "timescaledb", "2.19.3", "2.19.3")]
    assert commands(operations.extension_updates, version=17, cluster="main") == []
    assert (
        commands(
            operations.extensions,
            version=17,
            cluster="main",
            database="telemetry",
            names=["timescaledb"],
        )
        == []
    )
    assert fake.reads == [ExtensionVersions]  # both decided from one read
    assert fake.noops == [
        "1 extensions in 1 databases at their default versions",
        "extensions in telemetry: timescaledb",
    ]


def test_a_missing_extension_is_created_in_its_database_only(fake: FactHost) -> None:
    fake.facts[ExtensionVersions] = [ext("postgres", "pg_stat_statements", "1.11", "1.11")]
    (command,) = commands(
        operations.extensions,
        version=17,
        cluster="main",
        database="telemetry",
        names=["pg_stat_statements"],
    )
    assert "-d telemetry" in command
    assert 'CREATE EXTENSION IF NOT EXISTS "pg_stat_statements" CASCADE' in command


def test_the_fact_reads_every_connectable_database_in_one_command() -> None:
    command = ExtensionVersions().command(version=17, cluster="main")
    assert command.count("pg_database WHERE datallowconn") == 1
    assert '-d "$db"' in command and "pg_available_extensions" in command
    subprocess.run(["sh", "-n", "-c", command], check=True)  # one valid shell command


def test_pg_stat_statements_is_created_besides_the_listed_extensions() -> None:
    listed = DatabaseSpec(name="telemetry", owner="o", extensions=["timescaledb"])
    assert config.extensions(listed) == ["timescaledb", "pg_stat_statements"]
    both = DatabaseSpec(name="t", owner="o", extensions=["pg_stat_statements", "postgis"])
    assert config.extensions(both) == ["pg_stat_statements", "postgis"]
    assert set(config.ALWAYS_CREATED) <= set(config.PRELOADED)
