"""Facts the kafka role reads. Each answers on a host where Kafka is not installed yet
(first deploy, `--dry`), so the operations can say what they would do."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyinfra.api import FactBase
from typing_extensions import override

from roles import kafka_clients
from roles.kafka import config
from roles.kafka.principals import Access, parse_access
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


class FeaturesRecord(FactBase[str | None]):
    """The record of the release line this cluster's feature levels are finalized to
    (roles/kafka/features.py), None before one is written: a file read, no JVM."""

    @override
    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null || echo timestack:absent"

    @override
    def process(self, output: list[str]) -> str | None:
        return None if output == ["timestack:absent"] else "\n".join(output) + "\n"


class MetaProperties(FactBase[dict[str, dict[str, str] | None]]):
    """{data dir: its meta.properties as a dict, or None before `kafka-storage.sh format`}."""

    @override
    def command(self, directories: Sequence[str]) -> str:
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


def _admin(command: str, bootstrap: str, client_config: str = kafka_clients.ADMIN_CLIENT) -> str:
    """The admin tool, or a marker when the tool, its client configuration or Debian's
    binding is not installed yet. No `client_config`: a PLAINTEXT listener."""
    script, client = shlex.quote(config.ADMIN_SCRIPT), shlex.quote(client_config)
    present = f"[ -f {script} ] && [ -f {client} ]" if client_config else f"[ -f {script} ]"
    settings = f" --client-config {client}" if client_config else ""
    return (
        f"if {present} && python3 -c 'import confluent_kafka' 2>/dev/null; then python3 "
        f"{script} {command} --bootstrap {shlex.quote(bootstrap)}{settings}; "
        "else echo timestack:absent; fi"
    )


class DeployedListeners(FactBase[dict[str, str] | None]):
    """The listener settings of the deployed server.properties (None: no file): how a deploy
    tells a fresh host, a running PLAINTEXT cluster and a migration's stages apart
    (config.deployed_stage)."""

    @override
    def command(self) -> str:
        path = shlex.quote(config.SERVER_PROPERTIES)
        keys = "|".join(key.replace(".", r"\.") for key in config.LISTENER_KEYS)
        found = f"echo found; grep -E '^({keys})=' {path}"
        return f"if [ -f {path} ]; then {found}; else echo absent; fi"

    @override
    def process(self, output: list[str]) -> dict[str, str] | None:
        if not output or output[0].strip() != "found":
            return None
        return config.parse_properties("\n".join(output[1:]))


class KafkaAccess(FactBase[Access]):
    """SCRAM users and ACLs as the release's tools list them, over the internal listener
    with the host's certificate (two JVM starts: read only where principals are reconciled)."""

    @override
    def command(self, bootstrap: str, kafka_home: str, log_dir: str) -> str:
        q = shlex.quote
        admin = q(kafka_clients.ADMIN_PROPERTIES)
        configs, acls = (
            q(f"{kafka_home}/bin/kafka-configs.sh"),
            q(f"{kafka_home}/bin/kafka-acls.sh"),
        )
        common = f"--bootstrap-server {q(bootstrap)} --command-config {admin}"
        return (
            f"if [ -x {configs} ] && [ -x {acls} ] && [ -f {admin} ]; then "
            f"export LOG_DIR={q(log_dir)}; echo '### users'; "
            f'{configs} {common} --describe --entity-type users 2>&1; echo "### rc $?"; '
            f"echo '### acls'; {acls} {common} --list 2>&1; echo \"### rc $?\"; "
            "else echo timestack:absent; fi"
        )

    @override
    def process(self, output: list[str]) -> Access:
        return parse_access(output)


@dataclass(frozen=True)
class Records:
    """{principal: SHA-1 of its fingerprint record}, and the SHA-1 of the applied record."""

    fingerprints: dict[str, str]
    applied: str | None = None


class PrincipalRecords(FactBase[Records]):
    """The record files on the reconciling broker: which principals Timestack manages here,
    whether each record is the wanted one, and what was last applied. Never the content."""

    @override
    @staticmethod
    def default() -> Records:
        return Records({})

    @override
    def command(self, directory: str) -> str:
        d = shlex.quote(directory)
        return (
            f'for f in {d}/*.fingerprint {d}/applied.state; do [ -f "$f" ] && '
            'printf \'%s %s\\n\' "$(sha1sum < "$f" | cut -d\' \' -f1)" "$(basename "$f")"; '
            "done; true"
        )

    @override
    def process(self, output: list[str]) -> Records:
        found, applied = {}, None
        for line in output:
            digest, _, name = line.strip().partition(" ")
            if name.endswith(".fingerprint"):
                found[name.removesuffix(".fingerprint")] = digest
            elif name == "applied.state":
                applied = digest
        return Records(found, applied)


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
    def command(self, bootstrap: str, client_config: str = kafka_clients.ADMIN_CLIENT) -> str:
        return _admin("describe", bootstrap, client_config)

    @override
    def process(self, output: list[str]) -> Described:
        if output == ["timestack:absent"]:
            return Described("absent")
        return parse_described("\n".join(output))
