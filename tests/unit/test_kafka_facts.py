"""The kafka role's facts, run here for real with bash on temporary files."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from roles.kafka.facts import (
    ArchiveInCache,
    CachedArchive,
    ClusterMetadata,
    InstalledRelease,
    KafkaTopics,
    Metadata,
    MetaProperties,
)

CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"


def sh(command: str) -> list[str]:
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


def test_archive_in_cache_hashes_a_file_changed_since_its_record(tmp_path: Path) -> None:
    fact = ArchiveInCache()
    archive, record = tmp_path / "k.tgz", tmp_path / "k.tgz.sha512"
    command = fact.command(path=str(archive), record=str(record))
    assert fact.process(sh(command)) == CachedArchive(None, None)
    record.write_text("abc\n")
    archive.write_bytes(b"release")
    os.utime(record, (1_000_000, 1_000_000))  # the file is newer than its record
    expected = hashlib.sha512(b"release").hexdigest()
    assert fact.process(sh(command)) == CachedArchive(expected, "abc")


def test_archive_in_cache_trusts_the_record_of_an_unchanged_file(tmp_path: Path) -> None:
    fact = ArchiveInCache()
    archive, record = tmp_path / "k.tgz", tmp_path / "k.tgz.sha512"
    archive.write_bytes(b"release")
    os.utime(archive, (1_000_000, 1_000_000))  # verified, then the record was written
    record.write_text("abc\n")
    command = fact.command(path=str(archive), record=str(record))
    assert fact.process(sh(command)) == CachedArchive("abc", "abc")


def test_installed_release_reads_the_marker(tmp_path: Path) -> None:
    fact = InstalledRelease()
    assert fact.process(sh(fact.command(directory=str(tmp_path / "kafka")))) is None
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / ".timestack-archive.sha512").write_text("f00d\n")
    assert fact.process(sh(fact.command(directory=str(tmp_path / "kafka")))) == "f00d"


# What Kafka 4.x's `kafka-storage.sh format` writes into every log dir.
META = """#
#Tue Dec 01 15:40:02 UTC 2026
node.id=3
directory.id=Vq1Jb3wDT1mSJaP3xQmU0w
version=1
cluster.id={cluster}
"""


def test_meta_properties_fact_reads_each_formatted_directory(tmp_path: Path) -> None:
    fact = MetaProperties()
    dirs = [str(tmp_path / "data-a"), str(tmp_path / "data-b")]
    assert fact.process(sh(fact.command(directories=dirs))) == {d: None for d in dirs}
    (tmp_path / "data-a").mkdir()
    (tmp_path / "data-a" / "meta.properties").write_text(META.format(cluster=CLUSTER_ID))
    found = fact.process(sh(fact.command(directories=dirs)))
    assert found[dirs[1]] is None
    meta = found[dirs[0]]
    assert meta is not None
    assert (meta["cluster.id"], meta["node.id"], meta["version"]) == (CLUSTER_ID, "3", "1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", meta["directory.id"])


def test_cluster_metadata_fact_reads_the_admin_tool_answer() -> None:
    fact = ClusterMetadata()
    answer = '{"brokers": [1, 2, 3], "offline": [], "under_replicated": ["t/4"]}'
    metadata = fact.process([answer])
    assert metadata == Metadata(True, (1, 2, 3), ("t/4",), ())
    assert not metadata.healthy([1, 2, 3])
    assert fact.process(['{"brokers": [1, 2, 3], "offline": [], "under_replicated": []}']).healthy(
        [1, 2, 3]
    )


def test_cluster_metadata_is_unhealthy_when_a_broker_is_missing_or_nobody_answers() -> None:
    fact = ClusterMetadata()
    two = fact.process(['{"brokers": [1, 3], "offline": [], "under_replicated": []}'])
    assert two.healthy([1, 3]) and not two.healthy([1, 2, 3])
    assert not fact.process(["timestack:absent"]).healthy([1])
    failed = fact.process(['{"error": "KafkaError{code=_TRANSPORT}"}'])
    assert (failed.answered, failed.error) == (False, "KafkaError{code=_TRANSPORT}")
    assert not fact.process(["Traceback (most recent call last):"]).answered


def test_topics_fact_before_the_admin_tool_is_installed() -> None:
    assert KafkaTopics().process(["timestack:absent"]).status == "absent"
