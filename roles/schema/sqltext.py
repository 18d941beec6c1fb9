"""SQL text helpers for the planner: quoting, and splitting a file into its statements.

The split is for showing and checking statements (plan output, transaction-control and
CONCURRENTLY checks); psql still runs the file text itself, so the split only has to find
statement boundaries: quotes, dollar quotes, comments and semicolons.
"""

from __future__ import annotations

import re

from roles.sql import quote_ident as quote_ident
from roles.sql import quote_literal as quote_literal

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_TRANSACTION = re.compile(
    r"(begin|commit|rollback|start\s+transaction|end|abort|savepoint|release)\b", re.IGNORECASE
)
_CONCURRENTLY = re.compile(r"\bconcurrently\b", re.IGNORECASE)
NO_TRANSACTION_MARKER = "-- timestack:no-transaction"


def interval_literal(text: str) -> str:
    return f"INTERVAL {quote_literal(text)}"


def split_name(qualified: str) -> tuple[str, str]:
    """ "schema.table" -> ("schema", "table")."""
    schema, _, name = qualified.partition(".")
    return schema, name


def split_statements(text: str) -> list[str]:
    """The statements of a SQL script, without their terminating semicolons."""
    statements: list[str] = []
    start = 0
    for i, char in enumerate(mask_quoted(text)):
        if char == ";":
            _keep(statements, text[start:i])
            start = i + 1
    _keep(statements, text[start:])
    return statements


def mask_quoted(text: str) -> str:
    """`text`, same length, with comments blanked, string literals as `''` and quoted
    identifiers as `_` amid blanks: what is left is code to search for semicolons, names and
    calls."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char, start = text[i], i
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif char == "'":
            escapes = i > 0 and text[i - 1] in "eE" and not text[i - 2 : i - 1].isalnum()
            i = _skip_quoted(text, i, "'", backslash=escapes)
        elif char == '"':
            i = _skip_quoted(text, i, '"', backslash=False)
        elif char == "$" and (match := _DOLLAR.match(text, i)) and not _in_word(text, i):
            end = text.find(match[0], match.end())
            i = n if end < 0 else end + len(match[0])
        else:
            out.append(char)
            i += 1
            continue
        width = min(i, n) - start
        out.append(("_" if char == '"' else "''" if char in "'$" else "").center(width)[:width])
    return "".join(out)


def _in_word(text: str, i: int) -> bool:
    """`$1` parameters and identifiers containing $ are not dollar quotes."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def _skip_block_comment(text: str, i: int) -> int:
    depth, i = 1, i + 2  # PostgreSQL block comments nest
    while i < len(text) and depth:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _skip_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    i += 1
    while i < len(text):
        if backslash and text[i] == "\\":
            i += 2
        elif text[i] == quote:
            if text.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return i


def _keep(statements: list[str], chunk: str) -> None:
    if strip_comments(chunk).strip():
        statements.append(chunk.strip())


def strip_comments(statement: str) -> str:
    """The statement without leading line and block comments (for keyword checks)."""
    text = statement
    while True:
        text = text.lstrip()
        if text.startswith("--"):
            text = text.partition("\n")[2]
        elif text.startswith("/*"):
            text = text[_skip_block_comment(text, 0) :]
        else:
            return text


def controls_transaction(statement: str) -> bool:
    return _TRANSACTION.match(strip_comments(statement)) is not None


def uses_concurrently(statement: str) -> bool:
    return _CONCURRENTLY.search(strip_comments(statement)) is not None
