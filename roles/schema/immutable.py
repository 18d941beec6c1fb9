"""Calls an index predicate may not make, found without a database. Pure.

PostgreSQL refuses an index whose predicate or expression calls a function not marked
IMMUTABLE ("functions in index predicate must be marked IMMUTABLE"): an index is computed
once per row, and a value that changes with the clock, the session or a sequence would leave
it wrong. It refuses at apply time, after other units and hosts changed; the spec validator
asks here first. The lists hold the well-known STABLE and VOLATILE functions specs reach
for (time, randomness, sequences); a function missing here is still refused by PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from roles.schema.sqltext import mask_quoted

# Called with parentheses.
_CALLED = frozenset(
    {
        "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
        "random", "random_normal", "setseed", "gen_random_uuid", "uuid_generate_v4",
        "nextval", "currval", "lastval", "setval", "txid_current", "pg_current_xact_id",
    }
)  # fmt: skip
# SQL keywords that call a function without parentheses.
_KEYWORDS = frozenset(
    {"current_timestamp", "current_date", "current_time", "localtime", "localtimestamp"}
)
# Not immutable with this many arguments only: age(t) measures from today; the text
# formatting variants of to_timestamp and to_date read the session's settings.
_BY_ARITY = {("age", 1), ("to_timestamp", 2), ("to_date", 2)}
_WORD = re.compile(r"(?<![\w$.])((?:[a-z_][\w$]*\.)?[a-z_][\w$]*)\s*(\()?", re.IGNORECASE)

ADVICE = (
    "an IMMUTABLE predicate: PostgreSQL refuses {call} in an index ({why}). Use a fixed "
    "bound (e.g. ts > '2026-01-01'), moved by recreating the index from a job, or index the "
    "time column without a predicate: chunk exclusion keeps recent-row queries cheap"
)


def non_immutable_calls(expression: str) -> Iterator[str]:
    """Each call in `expression` PostgreSQL would refuse in an index, as written, e.g.
    `now()`; string literals, quoted identifiers and comments are not read."""
    text = mask_quoted(expression)
    for match in _WORD.finditer(text):
        name = match[1].lower().rpartition(".")[2]
        if match[2] is None:
            if name in _KEYWORDS:
                yield name
            continue
        arity = _arguments(text, match.end())
        if name in _CALLED or name in _KEYWORDS or (name, arity) in _BY_ARITY:
            yield f"{name}({'…' if arity else ''})"


def _arguments(text: str, start: int) -> int:
    """How many arguments the call whose "(" ends at `start` has."""
    depth, commas, i = 1, 0, start
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        commas += text[i] == "," and depth == 1
        i += 1
    inside = text[start : i - 1]
    return commas + 1 if inside.strip() else 0


def why(call: str) -> str:
    if call.startswith(("random", "setseed", "gen_random", "uuid_")):
        return "a new value on every call"
    if call.startswith(("nextval", "currval", "lastval", "setval")):
        return "it reads or moves a sequence"
    if call.startswith(("txid", "pg_current_xact")):
        return "it depends on the transaction"
    if call.startswith(("to_timestamp", "to_date")):
        return "it depends on the session's settings"
    return "its value moves with the clock"
