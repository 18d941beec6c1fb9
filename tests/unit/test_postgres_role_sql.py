"""The script the postgres role runs for a role: its password goes in as a SCRAM verifier,
and no statistics extension keeps that statement's text."""

from __future__ import annotations

from roles.postgres import scram
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
    assert 'ALTER ROLE "telemetry_ro" NOLOGIN;' in sql
