"""PostgreSQL unit syntax: parsing, formatting and comparing settings as pg_settings shows them."""

from __future__ import annotations

import pytest

from roles.units import (
    format_duration,
    format_size,
    normalize_setting,
    parse_duration_ms,
    parse_size,
    same_value,
    unit_kind,
)

KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64GiB", 64 * GIB),
        ("64GB", 64 * GIB),  # PostgreSQL's GB is 1024^3
        ("4G", 4 * GIB),
        ("512MB", 512 * MIB),
        ("512MiB", 512 * MIB),
        ("8kB", 8 * KIB),
        ("8KB", 8 * KIB),
        ("1TB", TIB),
        ("1024", 1024),  # plain number = bytes
        ("100B", 100),
        ("0", 0),
        (" 16 GB ", 16 * GIB),
        ("1.5GB", 1536 * MIB),
    ],
)
def test_parse_size_accepts_postgres_and_cli_forms(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "64XB", "-1GB", "64 GB extra", "1PB", "10s", "1e3"])
def test_parse_size_rejects_bad_text_naming_it_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_size(text)
    message = str(excinfo.value)
    assert repr(text) in message
    assert "kB, MB, GB, TB" in message
    assert "GiB" in message


@pytest.mark.parametrize(
    ("n_bytes", "expected"),
    [
        (16 * GIB, "16GB"),
        (1536 * MIB, "1536MB"),
        (64 * KIB, "64kB"),
        (TIB, "1TB"),
        (2 * TIB + 512 * GIB, "2560GB"),
        (7360 * KIB, "7360kB"),
        (0, "0"),
        (1000, "1000B"),  # not a whole kB: bytes are still valid PostgreSQL syntax
    ],
)
def test_format_size_uses_the_largest_exact_unit(n_bytes: int, expected: str) -> None:
    assert format_size(n_bytes) == expected


def test_format_size_round_trips_through_parse_size() -> None:
    for n_kb in [1, 7, 64, 1000, 1024, 1536, 4096, 65536, 1048576, 3 * 1048576 + 1]:
        text = format_size(n_kb * KIB)
        assert parse_size(text) == n_kb * KIB, text


def test_format_size_rejects_negative() -> None:
    with pytest.raises(ValueError, match="-1"):
        format_size(-1)


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [("250ms", 250), ("10s", 10_000), ("5min", 300_000), ("1h", 3_600_000), ("1d", 86_400_000)],
)
def test_parse_duration_ms(text: str, expected_ms: int) -> None:
    assert parse_duration_ms(text) == expected_ms


def test_parse_duration_plain_number_is_ms_and_bad_text_is_named() -> None:
    assert parse_duration_ms("1500") == 1500
    with pytest.raises(ValueError, match=r"'10 parsecs'.*ms, s, min, h, d"):
        parse_duration_ms("10 parsecs")
    with pytest.raises(ValueError, match="'16GB'"):
        parse_duration_ms("16GB")


@pytest.mark.parametrize(
    ("ms", "expected"),
    [(10_000, "10s"), (600_000, "10min"), (90_000, "90s"), (3_600_000, "1h"), (1500, "1500ms")],
)
def test_format_duration(ms: int, expected: str) -> None:
    assert format_duration(ms) == expected


@pytest.mark.parametrize(
    ("wanted", "setting", "unit"),
    [
        ("16GB", "2097152", "8kB"),  # shared_buffers in pg_settings
        ("16GB", "16384", "MB"),  # max_wal_size in pg_settings
        ("16GB", "16GB", None),  # SHOW output
        ("16GB", "16384MB", None),  # SHOW output in another unit
        ("7360kB", "7360", "kB"),  # work_mem
        ("2048", "2048", "8kB"),  # a bare number is in the setting's unit, as PostgreSQL reads it
        ("-1", "-1", "kB"),  # autovacuum_work_mem's sentinel
        ("10s", "10", "s"),  # autovacuum_naptime
        ("1min", "60", "s"),
        ("250ms", "250", "ms"),
        ("on", "on", None),
        ("ON", "on", None),
        ("true", "on", None),
        ("off", "false", None),
        ("1.1", "1.1", None),
        ("1.10", "1.1", None),
        ("4", "4", None),
        ("100", "100", None),
        ("lz4", "lz4", None),
        ("try", "try", None),
    ],
)
def test_same_value_matches(wanted: str, setting: str, unit: str | None) -> None:
    assert same_value(wanted, setting, unit)


@pytest.mark.parametrize(
    ("wanted", "setting", "unit"),
    [
        ("16GB", "2097151", "8kB"),  # one page short
        ("16GB", "16", "kB"),
        ("16GB", "16", None),  # SHOW without a unit is not 16GB
        ("10s", "10", "ms"),
        ("10s", "10", "kB"),  # a time against a memory setting
        ("16GB", "-1", "8kB"),
        ("on", "off", None),
        ("1.1", "1.2", None),
        ("4", "4.5", None),
        ("lz4", "pglz", None),
        ("LZ4", "lz4", None),  # anything not boolean or numeric compares exactly
        ("try", "on", None),
    ],
)
def test_same_value_differs(wanted: str, setting: str, unit: str | None) -> None:
    assert not same_value(wanted, setting, unit)


@pytest.mark.parametrize(
    ("setting", "unit", "expected"),
    [
        ("2097152", "8kB", "16GB"),
        ("16384", "MB", "16GB"),
        ("65536", "kB", "64MB"),
        ("600", "s", "10min"),
        ("-1", "kB", "-1"),
        ("ON", None, "on"),
        ("0.9", None, "0.9"),
        ("16384MB", None, "16GB"),
        ("lz4", None, "lz4"),
    ],
)
def test_normalize_setting(setting: str, unit: str | None, expected: str) -> None:
    assert normalize_setting(setting, unit) == expected


@pytest.mark.parametrize(
    ("unit", "kind"),
    [
        ("8kB", "memory"),
        ("kB", "memory"),
        ("MB", "memory"),
        ("B", "memory"),
        ("ms", "time"),
        ("s", "time"),
        ("min", "time"),
        (None, None),
        ("", None),
    ],
)
def test_unit_kind_covers_pg_settings_units(unit: str | None, kind: str | None) -> None:
    assert unit_kind(unit) == kind
