"""Facts the kafka role reads. Each answers on a host where Kafka is not installed yet
(first deploy, `--dry`), so the operations can say what they would do."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from pyinfra.api import FactBase
from typing_extensions import override

from roles.kafka import config
from roles.kafka.topics import Described, parse_described


@dataclass(frozen=True)
class CachedArchive:
    sha512: str | None  # of the file in the cache; None: not there
    verified: str | None  # the checksum it was verified against when it arrived


class ArchiveInCache(FactBase[CachedArchive]):
    """The cached archive's SHA-512 and the checksum recorded when it was verified. A file
    not modified since that record was written (the record is written after the check) is
    reported with the recorded checksum instead of hashing some 50 MB on every run."""

    @override
    def command(self, path: str, record: str) -> str:
        p, r = shlex.quote(path), shlex.quote(record)
        return (
            f"if [ ! -f {p} ]; then echo -; elif [ -s {r} ] && [ ! {p} -nt {r} ]; then "
            f"printf '%s\\n' \"$(head -c 200 {r})\"; else sha512sum {p} | cut -d' ' -f1; fi; "
            f"if [ -f {r} ]; then printf '%s\\n' \"$(head -c 200 {r})\"; else echo -; fi"
        )

    @override
    def process(self, output: list[str]) -> CachedArchive:
        found, verified = (line.strip() for line in output[:2])
        return CachedArchive(
            None if found in ("-", "") else found, None if verified in ("-", "") else verified
        )


class InstalledRelease(FactBase[str | None]):
    """The SHA-512 of the archive a release directory was unpacked from (its marker)."""

    @override
    def command(self, directory: str) -> str:
        marker = shlex.quote(f"{directory}/{config.INSTALLED_MARKER}")
        return f"cat {marker} 2>/dev/null || echo -"

    @override
    def process(self, output: list[str]) -> str | None:
        value = output[0].strip() if output else "-"
        return None if value in ("-", "") else value


class MetaProperties(FactBase[dict[str, dict[str, str] | None]]):
    """{data dir: its meta.properties as a dict, or None before `kafka-storage.sh format`}."""

    @override
    def command(self, directories: list[str]) -> str:
        checks = []
        for directory in directories:
            meta = shlex.quote(f"{directory}/meta.properties")
            checks.append(
                f"echo dir={shlex.quote(directory)}; "
                f"if [ -f {meta} ]; then sed -n 's/^\\([a-z.]*\\)=/meta:\\1=/p' {meta}; fi"
            )
        return "; ".join(checks)

    @override
    def process(self, output: list[str]) -> dict[str, dict[str, str] | None]:
        found: dict[str, dict[str, str] | None] = {}
        current = ""
        for line in output:
            if line.startswith("dir="):
                current = line.removeprefix("dir=")
                found[current] = None
            elif line.startswith("meta:") and current:
                key, _, value = line.removeprefix("meta:").partition("=")
                found[current] = {**(found[current] or {}), key: value.strip()}
        return found


def _admin(command: str, bootstrap: str) -> str:
    """The admin tool, or a marker when the tool or Debian's binding is not installed yet."""
    script = shlex.quote(config.ADMIN_SCRIPT)
    return (
        f"if [ -f {script} ] && python3 -c 'import confluent_kafka' 2>/dev/null; then "
        f"python3 {script} {command} --bootstrap {shlex.quote(bootstrap)}; "
        "else echo timestack:absent; fi"
    )


@dataclass(frozen=True)
class Metadata:
    """What a metadata request shows, without the JVM: registered brokers and partitions
    whose in-sync replicas fall short of their replicas (or that have no leader)."""

    answered: bool
    brokers: tuple[int, ...] = ()
    under_replicated: tuple[str, ...] = ()
    offline: tuple[str, ...] = ()
    error: str = ""

    def healthy(self, expected_brokers: Iterable[int]) -> bool:
        registered = set(expected_brokers) <= set(self.brokers)
        return self.answered and registered and not self.under_replicated and not self.offline


class ClusterMetadata(FactBase[Metadata]):
    @override
    def command(self, bootstrap: str) -> str:
        return _admin("metadata", bootstrap)

    @override
    def process(self, output: list[str]) -> Metadata:
        if output == ["timestack:absent"]:
            return Metadata(False, error="the admin tool is not installed yet")
        try:
            data = json.loads("\n".join(output))
            if "error" in data:
                return Metadata(False, error=str(data["error"]))
            return Metadata(
                True,
                tuple(int(n) for n in data["brokers"]),
                tuple(str(p) for p in data["under_replicated"]),
                tuple(str(p) for p in data["offline"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            return Metadata(False, error=f"unreadable answer {output[:3]}: {error}")


class KafkaTopics(FactBase[Described]):
    """The cluster's topics: partitions, replication factor and the configs set on each."""

    @override
    def command(self, bootstrap: str) -> str:
        return _admin("describe", bootstrap)

    @override
    def process(self, output: list[str]) -> Described:
        if output == ["timestack:absent"]:
            return Described("absent")
        return parse_described("\n".join(output))
