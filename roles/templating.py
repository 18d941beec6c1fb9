"""Render templates/<role>/*.j2 strictly: a missing variable is an error, never an empty string."""

from __future__ import annotations

from functools import cache
from io import StringIO
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HEADER = "managed by Timestack from templates/{path}; local edits are overwritten"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # config files, not HTML
    )


def render(path: str, comment: str = "#", **context: Any) -> str:
    """The rendered file, starting with the "managed by Timestack" header line."""
    body = environment().get_template(path).render(**context)
    return f"{comment} {HEADER.format(path=path)}\n{body}"


def rendered_file(path: str, comment: str = "#", **context: Any) -> StringIO:
    """What pyinfra's files.put takes as src."""
    return StringIO(render(path, comment, **context))
