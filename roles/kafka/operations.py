"""Operations of the kafka role: each reads a fact and yields commands only for what differs,
else host.noop — so `--dry` shows exactly what a run would change."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Generator, Sequence
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation

from roles.kafka import config
from roles.kafka.archive import Archive, download_script, verify_and_move
from roles.kafka.config import Storage
from roles.kafka.facts import (
    ArchiveInCache,
    BrokerAnswers,
    InstalledRelease,
    KafkaTopics,
    MetaProperties,
)
from roles.kafka.topics import RefusedChanges, plan
from roles.spec import KafkaTopic
from roles.staging import staged_upload

Commands = Generator[StringCommand | FileUploadCommand, None, None]


@operation()
def archive_in_cache(archive: Archive) -> Commands:
    """The release archive in ARCHIVE_CACHE, checked against its SHA-512 before it counts."""
    cached = host.get_fact(ArchiveInCache, path=archive.cached_path, record=archive.record_path)
    # Pinned (or computed from the local file): the file must have exactly that checksum.
    # Published by Apache: the file must still match what it was verified against.
    expected = archive.sha512 or cached.verified
    if cached.sha512 is not None and cached.sha512 == expected:
        host.noop(f"{archive.cached_path} is in place with the expected SHA-512")
        return
    if archive.local:
        part = f"{archive.cached_path}.part"
        yield staged_upload(archive.source, part)
        yield StringCommand(f"want={archive.sha512} && " + verify_and_move(part, archive))
    else:
        yield StringCommand(download_script(archive))


@operation()
def release_unpacked(archive: str, directory: str) -> Commands:
    """Unpack the cached archive into `directory` unless it came from this very archive."""
    cached = host.get_fact(ArchiveInCache, path=archive, record=f"{archive}.sha512")
    installed = host.get_fact(InstalledRelease, directory=directory)
    if installed is not None and installed == cached.sha512:
        host.noop(f"{directory} was unpacked from this archive")
        return
    new, marker = f"{directory}.timestack-new", f"{directory}/{config.INSTALLED_MARKER}"
    q = shlex.quote
    # Unpack beside, then swap: a failed unpack never leaves a half-installed release.
    yield StringCommand(
        f"rm -rf {q(new)} && mkdir -p {q(new)} && "
        f"tar -xzf {q(archive)} -C {q(new)} --strip-components=1 --no-same-owner && "
        f"sha512sum {q(archive)} | cut -d' ' -f1 > {q(new)}/{config.INSTALLED_MARKER} && "
        f"rm -rf {q(directory)} && mv {q(new)} {q(directory)} && test -s {q(marker)}"
    )


@operation()
def storage_formatted(
    kafka_home: str, log_dir: str, data_dirs: Sequence[str], storage: Storage
) -> Commands:
    """`kafka-storage.sh format` once per data dir; a directory formatted for another cluster
    or node is an error, never a reformat (that would drop its data)."""
    found = host.get_fact(MetaProperties, directories=list(data_dirs))
    problems = []
    for directory in data_dirs:
        meta = found.get(directory)
        if meta is None:
            continue
        if meta.get("cluster.id") != storage.cluster_id:
            problems.append(
                f"{host.name}: kafka.cluster_id: {directory}/meta.properties has cluster.id "
                f"{meta.get('cluster.id')}, this cluster's is {storage.cluster_id}. Timestack "
                "never reformats a data directory (its data would be lost): if this broker "
                f"belongs to that cluster, set kafka.cluster_id to {meta.get('cluster.id')} "
                "(a derived id changes when group kafka's host names change: pin it before "
                "adding or renaming brokers); if the data is really unwanted, move the "
                "directory away yourself"
            )
        if meta.get("node.id") != str(storage.node_id):
            problems.append(
                f"{host.name}: kafka.node_id: {directory}/meta.properties has node.id "
                f"{meta.get('node.id')}, host data gives {storage.node_id}; set kafka.node_id "
                f"to {meta.get('node.id')} (node ids follow inventory order unless set)"
            )
    if problems:
        raise OperationError("\n".join(problems))
    missing = [directory for directory in data_dirs if found.get(directory) is None]
    if not missing:
        host.noop(f"storage formatted for cluster {storage.cluster_id}, node {storage.node_id}")
        return
    tool = shlex.quote(f"{kafka_home}/bin/kafka-storage.sh")
    yield StringCommand(
        f"runuser -u {config.USER} -- env LOG_DIR={shlex.quote(log_dir)} {tool} format "
        f"--cluster-id {shlex.quote(storage.cluster_id)} "
        f"--config {shlex.quote(config.SERVER_PROPERTIES)} --ignore-formatted"
    )


def _wait(bootstrap: str, timeout: int) -> StringCommand:
    return StringCommand(
        "python3",
        config.ADMIN_SCRIPT,
        "wait",
        "--bootstrap",
        shlex.quote(bootstrap),
        "--timeout",
        str(timeout),
    )


@operation()
def restarted(bootstrap: str, timeout: int) -> Commands:
    """Restart the broker and wait until it answers. Called with `_if` (the files it reads
    changed) and `_serial`, so brokers restart one after another, never all at once."""
    yield StringCommand("systemctl", "restart", config.UNIT)
    yield _wait(bootstrap, timeout)


@operation()
def broker_answers(bootstrap: str, timeout: int) -> Commands:
    """Wait until the broker answers a metadata request (after a start)."""
    if host.get_fact(BrokerAnswers, bootstrap=bootstrap):
        host.noop(f"Kafka answers at {bootstrap}")
        return
    yield _wait(bootstrap, timeout)


@operation()
def topics(bootstrap: str, kafka_home: str, wanted: Sequence[KafkaTopic]) -> Commands:
    """Create, reconfigure, grow and delete topics to match host data (see topics.plan)."""
    described = host.get_fact(KafkaTopics, bootstrap=bootstrap, kafka_home=kafka_home)
    if described.status == "unreachable":
        raise OperationError(
            f"{host.name}: Kafka at {bootstrap} did not answer ({described.error}); "
            f"see `journalctl -u {config.UNIT}`"
        )
    try:
        pending = plan(described.topics, wanted)
    except RefusedChanges as refused:
        raise OperationError(refused.report(host.name)) from None
    if pending.empty:
        host.noop(f"{len(wanted)} declared topics match")
        return
    text = pending.to_json()
    path = f"{config.PLAN_DIR}/topics-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    yield StringCommand("install", "-d", "-m", "0700", config.PLAN_DIR)
    yield staged_upload(StringIO(text), path)
    yield StringCommand(
        f"python3 {config.ADMIN_SCRIPT} apply --bootstrap {shlex.quote(bootstrap)} {path}; "
        f"rc=$?; rm -f {path}; exit $rc"
    )
