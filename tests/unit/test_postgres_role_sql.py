"""The script the postgres role runs for a role: its password goes in as a SCRAM verifier,
and no statistics extension keeps that statement's text."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from roles.postgres import operations, scram
from roles.postgres.facts import PgRole
from roles.postgres.operations import role_sql


def test_the_verifier_is_set_only_after_statement_tracking_is_off() -> None:
    verifier = scram.verifier("correct horse battery staple", salt=b"0123456789abcdef")
    lines = role_sql("telemetry_app", True, verifier, ["telemetry_ro"]).splitlines()
    holding = [n for n, line in enumerate(lines) if verifier in line]
    # pg_stat_statements writes tracked statement texts to pg_stat_tmp/ and shows them to
    # pg_read_all_stats members; with tracking off for this transaction it keeps none.
    tracking_off = lines.index("SET LOCAL pg_stat_statements.track = 'none';")
    assert len(holding) == 1 and holding[0] > tracking_off
    assert lines[holding[0]] == f"ALTER ROLE \"telemetry_app\" PASSWORD '{verifier}';"
    assert 'GRANT "telemetry_ro" TO "telemetry_app";' in lines
    assert "correct horse" not in "\n".join(lines)


def test_no_password_statement_when_the_stored_one_is_current() -> None:
    sql = role_sql("telemetry_ro", False, None, [])
    assert "PASSWORD" not in sql
    assert 'ALTER ROLE "telemetry_ro" NOLOGIN NOREPLICATION;' in sql


class NoteOnlyHost:
    """A host that only takes notes: the role operation decides from the Roles fact it is
    handed (read once by the role), never reading one itself."""

    name = "db1"

    def __init__(self) -> None:
        self.notes: list[str] = []

    def noop(self, note: str) -> None:
        self.notes.append(note)


def _role_changes(monkeypatch: pytest.MonkeyPatch, current: dict[str, PgRole] | None) -> bool:
    fake = NoteOnlyHost()
    monkeypatch.setattr(operations, "host", fake)
    commands = operations.role._inner(
        version=17,
        cluster="main",
        role_name="app",
        login=True,
        password="pw",
        member_of=["ro"],
        current=current,
    )
    return next(iter(commands), None) is not None  # the first command: the SQL upload's


def test_a_role_as_specified_yields_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = b"0123456789abcdef"
    stored = scram.verifier("pw", salt=salt)
    salt_b64 = base64.b64encode(salt).decode()
    found = PgRole(True, frozenset({"ro"}), 4096, salt_b64, scram.fingerprint(stored))
    assert not _role_changes(monkeypatch, {"app": found})
    assert _role_changes(monkeypatch, {"app": replace(found, login=False)})
    assert _role_changes(monkeypatch, {"app": replace(found, member_of=frozenset())})
    assert _role_changes(monkeypatch, {"app": replace(found, verifier_sha256="0" * 64)})
    assert _role_changes(monkeypatch, {"app": replace(found, replication=True)})
    assert _role_changes(monkeypatch, {})  # absent
    assert _role_changes(monkeypatch, None)  # cluster offline: idempotent SQL
