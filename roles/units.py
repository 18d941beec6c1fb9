"""PostgreSQL unit syntax: parse and format memory and time values, compare settings.

Pure helpers (no pyinfra import). Conventions follow PostgreSQL's own: memory units are
powers of 1024 (``1GB`` is 1024^3 bytes, the same as ``1GiB``), time units are ms, s, min,
h and d. A number without a unit means bytes for :func:`parse_size` and milliseconds for
:func:`parse_duration_ms`; in :func:`same_value` it means "in the setting's own unit", as
PostgreSQL itself reads it.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Literal

UnitKind = Literal["memory", "time"]

KIB = 1024

# PostgreSQL's own memory units (case-sensitive in postgresql.conf).
_PG_MEMORY_UNITS: dict[str, int] = {
    "B": 1,
    "kB": KIB,
    "MB": KIB**2,
    "GB": KIB**3,
    "TB": KIB**4,
}
# What people type on a command line; all are powers of 1024, matched case-insensitively.
_MEMORY_ALIASES: dict[str, int] = {
    **{unit.lower(): factor for unit, factor in _PG_MEMORY_UNITS.items()},
    **{
        alias: KIB**power
        for power, stem in enumerate("kmgt", start=1)
        for alias in (stem, f"{stem}ib")
    },
}
# PostgreSQL's time units, in milliseconds ("us" only appears in pg_settings.unit).
_TIME_UNITS: dict[str, Fraction] = {
    "us": Fraction(1, 1000),
    "ms": Fraction(1),
    "s": Fraction(1000),
    "min": Fraction(60_000),
    "h": Fraction(3_600_000),
    "d": Fraction(86_400_000),
}
_SIZE_FORMAT_UNITS = (("TB", KIB**4), ("GB", KIB**3), ("MB", KIB**2), ("kB", KIB))
_TIME_FORMAT_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000))

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*([A-Za-z]*)\s*$")
_PG_UNIT = re.compile(r"^(\d*)\s*([A-Za-z]+)$")
_BOOLEANS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}

SIZE_FORMS = (
    "a non-negative number with an optional unit B, kB, MB, GB, TB "
    "(or KiB, MiB, GiB, TiB, K, M, G, T; all powers of 1024; no unit means bytes), "
    "e.g. 64GiB, 512MB, 8kB, 1024"
)
DURATION_FORMS = (
    "a non-negative number with an optional unit ms, s, min, h, d (no unit means ms), "
    "e.g. 10s, 5min, 250ms"
)


def _split(text: str) -> tuple[Fraction, str] | None:
    """``" 1.5 GB "`` -> ``(Fraction(3, 2), "GB")``; None when it is not number+unit."""
    match = _QUANTITY.match(text)
    if match is None:
        return None
    return Fraction(match.group(1)), match.group(2)


def _unit_scale(unit: str) -> tuple[UnitKind, Fraction] | None:
    """Kind and size of one unit: "GB" -> memory 1024^3 bytes, "min" -> time 60000 ms."""
    if unit in _TIME_UNITS:
        return "time", _TIME_UNITS[unit]
    factor = _MEMORY_ALIASES.get(unit.lower())
    return None if factor is None else ("memory", Fraction(factor))


def _setting_unit_scale(unit: str | None) -> tuple[UnitKind, Fraction] | None:
    """pg_settings.unit ('8kB', 'kB', 'MB', 'B', 'ms', 's', 'min', None) -> kind and size."""
    if not unit:
        return None
    match = _PG_UNIT.match(unit.strip())
    if match is None:
        return None
    scale = _unit_scale(match.group(2))
    if scale is None:
        return None
    multiplier = int(match.group(1)) if match.group(1) else 1
    return scale[0], scale[1] * multiplier


def _parse_quantity(text: str, kind: UnitKind, forms: str) -> Fraction:
    parts = _split(text)
    if parts is not None:
        number, unit = parts
        scale = _unit_scale(unit) if unit else (kind, Fraction(1))
        if scale is not None and scale[0] == kind and number >= 0:
            return number * scale[1]
    raise ValueError(f"invalid {kind} value {text!r}: expected {forms}")


def parse_size(text: str) -> int:
    """Bytes from PostgreSQL-style memory text; fractions of a byte are dropped."""
    return math.floor(_parse_quantity(text, "memory", SIZE_FORMS))


def format_size(n_bytes: int) -> str:
    """PostgreSQL unit syntax with the largest of kB/MB/GB/TB that divides exactly."""
    if n_bytes < 0:
        raise ValueError(f"a size cannot be negative, got {n_bytes} bytes")
    if n_bytes == 0:
        return "0"
    for unit, factor in _SIZE_FORMAT_UNITS:
        if n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    return f"{n_bytes}B"


def parse_duration_ms(text: str) -> float:
    """Milliseconds from PostgreSQL-style time text ("10s" -> 10000.0)."""
    return float(_parse_quantity(text, "time", DURATION_FORMS))


def format_duration(ms: int) -> str:
    """PostgreSQL unit syntax with the largest of s/min/h/d that divides exactly, else ms."""
    if ms < 0:
        raise ValueError(f"a duration cannot be negative, got {ms} ms")
    if ms == 0:
        return "0"
    for unit, factor in _TIME_FORMAT_UNITS:
        if ms % factor == 0:
            return f"{ms // factor}{unit}"
    return f"{ms}ms"


_Key = tuple[str, Fraction | float | bool | str]


def _key(text: str, unit: str | None) -> _Key:
    """A comparable form of a value: (kind, quantity-in-bytes-or-ms | number | bool | text).

    ``unit`` is the setting's pg_settings unit; a bare number is read in that unit, exactly
    as PostgreSQL reads ``shared_buffers = 2048`` as 2048 x 8kB.
    """
    stripped = text.strip()
    parts = _split(stripped)
    if parts is not None:
        number, suffix = parts
        scale = _unit_scale(suffix) if suffix else _setting_unit_scale(unit)
        if scale is not None:
            return scale[0], number * scale[1]
        if not suffix:
            return "number", float(number)
    lowered = stripped.lower()
    if lowered in _BOOLEANS:
        return "bool", _BOOLEANS[lowered]
    return "text", stripped


def same_value(wanted: str, actual_setting: str, actual_unit: str | None) -> bool:
    """Whether ``wanted`` (e.g. "16GB") equals pg_settings' raw ``setting``/``unit`` pair.

    Memory and time compare numerically (``16GB`` == ``2097152`` x ``8kB`` == ``16384MB``
    as SHOW prints it); on/off/true/false/yes/no compare as booleans, case-insensitively;
    plain numbers compare as floats (``1.1`` == ``1.10``); anything else exactly.
    """
    want, have = _key(wanted, actual_unit), _key(actual_setting, actual_unit)
    if want[0] != have[0]:
        return False
    if want[0] == "number":
        return math.isclose(float(want[1]), float(have[1]), rel_tol=1e-9, abs_tol=1e-12)
    return want[1] == have[1]


def normalize_setting(setting: str, unit: str | None) -> str:
    """Canonical text for a pg_settings ``setting``/``unit`` pair (or a SHOW value).

    ``("2097152", "8kB")`` -> ``"16GB"``, ``("600", "s")`` -> ``"10min"``,
    ``("ON", None)`` -> ``"on"``; negative sentinels such as ``-1`` stay as they are.
    """
    kind, value = _key(setting, unit)
    if kind in ("memory", "time") and isinstance(value, Fraction):
        if value < 0 or value.denominator != 1:
            return setting.strip()
        whole = int(value)
        return format_size(whole) if kind == "memory" else format_duration(whole)
    if kind == "bool":
        return "on" if value else "off"
    return setting.strip()


def unit_kind(unit: str | None) -> UnitKind | None:
    """ "memory" for '8kB'/'kB'/'MB'/'B', "time" for 'ms'/'s'/'min', None otherwise."""
    scale = _setting_unit_scale(unit)
    return None if scale is None else scale[0]
