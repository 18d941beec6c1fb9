"""The kafka role's facts, run here for real with bash on temporary files, together with
the lab stand-in's kafka-storage.sh (lab/standin/) whose meta.properties they read."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from roles.kafka.facts import (
    ArchiveInCache,
    CachedArchive,
    InstalledRelease,
    KafkaTopics,
    MetaProperties,
)

STANDIN = Path(__file__).resolve().parents[2] / "lab" / "standin"
CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"


def sh(command: str) -> list[str]:
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


def storage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STANDIN / "kafka-storage.sh"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def properties(tmp_path: Path) -> Path:
    config = tmp_path / "server.properties"
    dirs = f"{tmp_path}/data-a,{tmp_path}/data-b"
    config.write_text(
        f"node.id=3\nlog.dirs={dirs}\ncontroller.listener.names=CONTROLLER\n"
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
        "advertised.listeners=PLAINTEXT://kafka1:9092\n"
    )
    return config


def test_archive_in_cache_reports_checksum_and_record(tmp_path: Path) -> None:
    fact = ArchiveInCache()
    archive, record = tmp_path / "k.tgz", tmp_path / "k.tgz.sha512"
    command = fact.command(path=str(archive), record=str(record))
    assert fact.process(sh(command)) == CachedArchive(None, None)
    archive.write_bytes(b"release")
    record.write_text("abc\n")
    expected = hashlib.sha512(b"release").hexdigest()
    assert fact.process(sh(command)) == CachedArchive(expected, "abc")


def test_installed_release_reads_the_marker(tmp_path: Path) -> None:
    fact = InstalledRelease()
    assert fact.process(sh(fact.command(directory=str(tmp_path / "kafka")))) is None
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / ".timestack-archive.sha512").write_text("f00d\n")
    assert fact.process(sh(fact.command(directory=str(tmp_path / "kafka")))) == "f00d"


def test_stand_in_format_writes_meta_properties_the_fact_reads(
    tmp_path: Path, properties: Path
) -> None:
    fact = MetaProperties()
    dirs = [str(tmp_path / "data-a"), str(tmp_path / "data-b")]
    assert fact.process(sh(fact.command(directories=dirs))) == {d: None for d in dirs}
    result = storage("format", "--cluster-id", CLUSTER_ID, "--config", str(properties))
    assert result.returncode == 0, result.stderr
    found = fact.process(sh(fact.command(directories=dirs)))
    for directory in dirs:
        meta = found[directory]
        assert meta is not None
        assert (meta["cluster.id"], meta["node.id"], meta["version"]) == (CLUSTER_ID, "3", "1")
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", meta["directory.id"])


def test_stand_in_format_refuses_a_formatted_directory_unless_told(properties: Path) -> None:
    assert storage("format", "-t", CLUSTER_ID, "-c", str(properties)).returncode == 0
    again = storage("format", "-t", "AAAAAAAAAAAAAAAAAAAAAA", "-c", str(properties))
    assert again.returncode == 1
    assert "already formatted" in again.stderr
    skipped = storage("format", "-t", "AAAAAAAAAAAAAAAAAAAAAA", "-c", str(properties), "-g")
    assert skipped.returncode == 0
    assert (
        f"cluster.id={CLUSTER_ID}" in (properties.parent / "data-a" / "meta.properties").read_text()
    )


def test_stand_in_random_uuid_has_kafkas_form() -> None:
    result = storage("random-uuid")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}\n", result.stdout)


def test_stand_in_broker_refuses_to_start_unformatted(properties: Path) -> None:
    """Like Kafka: no meta.properties, no broker (it exits before running Tansu)."""
    result = subprocess.run(
        ["bash", str(STANDIN / "kafka-server-start.sh"), str(properties)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "No meta.properties found" in result.stderr


def test_topics_fact_before_the_admin_tool_is_installed() -> None:
    assert KafkaTopics().process(["timestack:absent"]).status == "absent"
