"""Error reporting for roles.spec: one FieldError per bad field, in words that tell the fix.

pydantic's ValidationError is translated here: the dotted field path comes from `loc` (list
items named by their `name` key when they have one), the offending value from `input`
(never for secrets), and the "expected …" phrase from the field's JSON schema (enum values,
numeric bounds, descriptions) or from the validator's own message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

SECRET_KEYS = frozenset({"password", "secret", "secret_key", "access_key"})
_JSON_TYPES = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}
_TYPE_PHRASES = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping of key: value",
    "model_type": "a mapping of key: value",
    "model_attributes_type": "a mapping of key: value",
}
_NUMBER_TYPES = ("int_", "float_", "greater_than", "less_than", "finite_number", "multiple_of")


@dataclass(frozen=True)
class HostInput:
    """One inventory host as validate_inventory sees it (data: plain dict of host.data)."""

    name: str
    groups: frozenset[str]
    data: Mapping[str, Any] = field(repr=False)  # holds plaintext passwords: never shown


@dataclass(frozen=True)
class FieldError:
    host: str
    field: str  # e.g. "kafka.topics[telemetry.raw].partitions" or "postgres.hba[2].address"
    got: str  # the offending value, short; "<secret>" for secrets
    expected: str  # what is allowed / the fix

    def __str__(self) -> str:
        return f"{self.host}: {self.field}: got {self.got}; expected {self.expected}"


class SpecError(Exception):
    """Every bad field of every host; str() is a report, one line per error."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        hosts = len({error.host for error in self.errors})
        heading = (
            f"Invalid Timestack host data: {len(self.errors)} "
            f"error{'s' * (len(self.errors) != 1)} on {hosts} host{'s' * (hosts != 1)}"
        )
        super().__init__("\n".join([heading, *(f"  {error}" for error in self.errors)]))


def render(value: object, secret: bool = False, limit: int = 60) -> str:
    """A short, secret-free rendering of an input value."""
    if secret:
        return "<secret>"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k}: {render(v, str(k) in SECRET_KEYS)}" for k, v in value.items())
        text = "{" + inner + "}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(render(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def no_such_key(key: str, known: Sequence[str], noun: str = "key") -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"no such {noun}{hint} known {noun}s: {', '.join(known)}"


def from_validation_error(
    exc: ValidationError, host: str, section: str, schema: Mapping[str, Any], raw: object
) -> list[FieldError]:
    """FieldErrors for one section; union branches of the same field merge into one line."""
    merged: dict[tuple[str, bool], tuple[str, list[str]]] = {}
    for err in exc.errors(include_url=False):
        path, node, parent, is_key = _walk(schema, err["loc"], raw)
        secret = any(part in SECRET_KEYS for part in err["loc"] if isinstance(part, str))
        if err["type"] == "missing":
            got = "nothing"
        elif err["type"] == "extra_forbidden":
            got = "an unknown key"
        else:
            got = render(err["input"], secret)
        expected = merged.setdefault((section + path, is_key), (got, []))[1]
        if (phrase := _expected(err, node, parent)) not in expected:
            expected.append(phrase)
    return [
        FieldError(host, path, got, _one_of(expected))
        for (path, _), (got, expected) in merged.items()
    ]


def _one_of(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _deref(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        ref = node["$ref"].rsplit("/", 1)[-1]
        node = {**schema["$defs"][ref], **{k: v for k, v in node.items() if k != "$ref"}}
    branches = [b for b in node.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:  # Optional[X]: look at X, keep the field's own description
        return {**_deref(schema, branches[0]), **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _walk(
    schema: Mapping[str, Any], loc: Sequence[int | str], raw: object
) -> tuple[str, Mapping[str, Any], Mapping[str, Any], bool]:
    """Follow `loc` through the schema and the raw input: (path, node, parent node, key error)."""
    node, parent, parts, is_key = _deref(schema, schema), schema, [], False
    for item in loc:
        if item == "[key]":  # the dict key itself was rejected
            is_key = True
        elif "anyOf" in node and isinstance(item, str):  # union member tag, e.g. "int"
            wanted = _JSON_TYPES.get(item)
            branch: Mapping[str, Any] = next(
                (
                    b
                    for b in node["anyOf"]
                    # a model's tag is its class name, its branch a reference to it
                    if b.get("type") == wanted or b.get("$ref", "").endswith(f"/{item}")
                ),
                {},
            )
            node = _deref(schema, branch)
        elif isinstance(item, int):
            label: int | str = item
            if isinstance(raw, list) and item < len(raw):
                raw = raw[item]
                name = raw.get("name") if isinstance(raw, Mapping) else None
                label = name if isinstance(name, str) and name else item
            else:
                raw = None
            parts.append(f"[{label}]")
            parent, node = node, _deref(schema, node.get("items", {}))
        else:
            properties, extra = node.get("properties", {}), node.get("additionalProperties")
            parent = node
            if item in properties:
                parts.append(f".{item}")
                node = _deref(schema, properties[item])
            elif isinstance(extra, Mapping):
                parts.append(f"[{item}]")
                node = _deref(schema, extra)
            else:
                parts.append(f".{item}")
                node = {}
            raw = raw.get(item) if isinstance(raw, Mapping) else None
    return "".join(parts), node, parent, is_key


def _expected(err: Mapping[str, Any], node: Mapping[str, Any], parent: Mapping[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"]).removeprefix("Assertion failed, ")
    if kind == "missing":
        description = node.get("description")
        return "this key to be set" + (f" ({description})" if description else "")
    if kind == "extra_forbidden":
        return no_such_key(str(err["loc"][-1]), list(parent.get("properties", {})))
    if "x-expected" in node:
        return str(node["x-expected"])
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        return "one of: " + ", ".join(str(v) for v in values)
    if kind == "literal_error":
        return f"one of: {ctx.get('expected')}"
    if kind.startswith(_NUMBER_TYPES):
        return _number_phrase(node)
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"{'at least' if kind == 'too_short' else 'at most'} {bound} item(s)"
    return _TYPE_PHRASES.get(kind) or str(err["msg"])[:1].lower() + str(err["msg"])[1:]


def _number_phrase(node: Mapping[str, Any]) -> str:
    noun = "an integer" if node.get("type") == "integer" else "a number"
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"{noun} {low}-{high}"
    bounds = []
    if low is not None:
        bounds.append(f">= {low}")
    elif node.get("exclusiveMinimum") is not None:
        bounds.append(f"> {node['exclusiveMinimum']}")
    if high is not None:
        bounds.append(f"≤ {high}")
    elif node.get("exclusiveMaximum") is not None:
        bounds.append(f"< {node['exclusiveMaximum']}")
    return f"{noun} {' and '.join(bounds)}" if bounds else noun
