"""SQL quoting for text Timestack writes into statements (standard_conforming_strings on,
PostgreSQL's default since 9.1)."""

from __future__ import annotations


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
