"""Topic configs of kafka.topics[].configs: the names Kafka knows and the values it parses.

Kafka refuses an unknown topic config or a malformed value only when the topic is created
or altered, which is after other hosts of the same deploy have changed; checking here stops
the deploy before any host does. Names are the topic-level configs of Kafka 3.3 to 4.x
(its LogConfig); values follow Kafka's ConfigDef parsing: whole numbers in base 10, booleans
true/false in any case, lists comma-separated, choices spelled exactly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping

Check = Callable[[str], str | None]  # None when the value is valid, else the "expected" phrase
LONG_MAX, INT_MAX = 2**63 - 1, 2**31 - 1
DAY_MS = 24 * 3600 * 1000


def _whole(unit: str, low: int, high: int = LONG_MAX, note: str = "") -> Check:
    """A whole number in [low, high]; Kafka's LONG and INT types."""
    phrase = f"a whole number of {unit}, {low} or more{note}"

    def check(value: str) -> str | None:
        text = value.strip()
        ok = re.fullmatch(r"[+-]?\d+", text) is not None and low <= int(text) <= high
        return None if ok else phrase

    return check


def _ratio(value: str) -> str | None:
    try:
        ok = 0 <= float(value.strip()) <= 1
    except ValueError:
        ok = False
    return None if ok else "a number from 0 to 1, like 0.5"


def _boolean(value: str) -> str | None:
    return None if value.strip().lower() in ("true", "false") else "true or false"


def _one_of(*choices: str) -> Check:
    return lambda value: None if value.strip() in choices else f"one of: {', '.join(choices)}"


def _cleanup_policy(value: str) -> str | None:
    items = [item.strip() for item in value.split(",")]
    ok = bool(items) and all(item in ("delete", "compact") for item in items)
    return None if ok else 'delete, compact, or both as "compact,delete"'


def _integer(value: str) -> str | None:
    return None if re.fullmatch(r"\s*[+-]?\d+\s*", value) else "a whole number"


def _text(value: str) -> str | None:
    return None


_MS, _BYTES = "milliseconds", "bytes"
TOPIC_CONFIGS: dict[str, Check] = {
    "cleanup.policy": _cleanup_policy,
    "compression.type": _one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    "compression.gzip.level": _integer,
    "compression.lz4.level": _integer,
    "compression.zstd.level": _integer,
    "delete.retention.ms": _whole(_MS, 0),
    "file.delete.delay.ms": _whole(_MS, 0),
    "flush.messages": _whole("messages", 0),
    "flush.ms": _whole(_MS, 0),
    "follower.replication.throttled.replicas": _text,
    "index.interval.bytes": _whole(_BYTES, 0, INT_MAX),
    "leader.replication.throttled.replicas": _text,
    "local.retention.bytes": _whole(_BYTES, -2, note=" (-2: as retention.bytes)"),
    "local.retention.ms": _whole(_MS, -2, note=" (-2: as retention.ms)"),
    "max.compaction.lag.ms": _whole(_MS, 1),
    "max.message.bytes": _whole(_BYTES, 0, INT_MAX),
    "message.downconversion.enable": _boolean,
    "message.format.version": _text,
    "message.timestamp.after.max.ms": _whole(_MS, 0),
    "message.timestamp.before.max.ms": _whole(_MS, 0),
    "message.timestamp.difference.max.ms": _whole(_MS, 0),
    "message.timestamp.type": _one_of("CreateTime", "LogAppendTime"),
    "min.cleanable.dirty.ratio": _ratio,
    "min.compaction.lag.ms": _whole(_MS, 0),
    "min.insync.replicas": _whole("replicas", 1, INT_MAX),
    "preallocate": _boolean,
    "remote.copy.lag.bytes": _whole(_BYTES, -1),
    "remote.copy.lag.ms": _whole(_MS, -1),
    "remote.log.copy.disable": _boolean,
    "remote.log.delete.on.disable": _boolean,
    "remote.storage.enable": _boolean,
    "retention.bytes": _whole(_BYTES, -1, note=" (-1: no size limit)"),
    "retention.ms": _whole(_MS, -1, note=f" (-1: no time limit; 7 days is {7 * DAY_MS})"),
    "segment.bytes": _whole(_BYTES, 14, INT_MAX),
    "segment.index.bytes": _whole(_BYTES, 4, INT_MAX),
    "segment.jitter.ms": _whole(_MS, 0),
    "segment.ms": _whole(_MS, 1),
    "unclean.leader.election.enable": _boolean,
}


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, list(TOPIC_CONFIGS), n=1, cutoff=0.7)
    if close:
        return f"no such topic config; did you mean {close[0]!r}?"
    return "a topic-level config Kafka knows: " + ", ".join(TOPIC_CONFIGS)


def topic_config_problems(path: str, configs: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    """(field, got, expected) for each config of one topic Kafka would refuse."""
    for name, value in configs.items():
        check = TOPIC_CONFIGS.get(name)
        if check is None:
            yield f"{path}[{name}]", "an unknown key", _unknown(name)
        elif (expected := check(value)) is not None:
            yield f"{path}[{name}]", repr(value), expected
