"""A release upgrade's feature levels: what the admin tool reads from the release's
kafka-features.sh (output captured from Apache Kafka 4.3.1 and 4.4.0), what it raises, and
the deploy's record and downgrade refusal."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from roles.kafka import admin_tool, features, operations
from roles.kafka.facts import FeaturesRecord
from tests.unit.pyinfra_host import FactHost, commands
from tests.unit.test_kafka_facts import sh

# `kafka-features.sh version-mapping` of 4.4.0: what a fresh 4.4 cluster is formatted with.
MAPPING_4_4 = """\
metadata.version=33 (4.4-IV2)
kraft.version=1
transaction.version=2
group.version=1
eligible.leader.replicas.version=1
share.version=2
streams.version=1"""
# `kafka-features.sh describe` of a cluster formatted by 4.3.1 (static quorum), then run by
# 4.4.0 brokers: nothing finalized yet.
DESCRIBE_4_3 = """\
Feature: eligible.leader.replicas.version          SupportedMinVersion: 0                SupportedMaxVersion: 1                FinalizedVersionLevel: 1                Epoch: 148
Feature: group.version                             SupportedMinVersion: 0                SupportedMaxVersion: 1                FinalizedVersionLevel: 1                Epoch: 148
Feature: kraft.version                             SupportedMinVersion: 0                SupportedMaxVersion: 1                FinalizedVersionLevel: 0                Epoch: 148
Feature: metadata.version                          SupportedMinVersion: 3.3-IV3          SupportedMaxVersion: 4.4-IV2          FinalizedVersionLevel: 4.3-IV0          Epoch: 148
Feature: share.version                             SupportedMinVersion: 0                SupportedMaxVersion: 2                FinalizedVersionLevel: 1                Epoch: 148
Feature: streams.version                           SupportedMinVersion: 0                SupportedMaxVersion: 1                FinalizedVersionLevel: 1                Epoch: 148
Feature: transaction.version                       SupportedMinVersion: 0                SupportedMaxVersion: 2                FinalizedVersionLevel: 2                Epoch: 148
"""  # noqa: E501


def test_the_release_mapping_gives_every_level_and_the_metadata_versions_name() -> None:
    levels, name = admin_tool.parse_feature_mapping(MAPPING_4_4)
    assert name == "4.4-IV2"
    assert levels["metadata.version"] == 33 and levels["share.version"] == 2
    assert len(levels) == 7
    with pytest.raises(ValueError, match=r"no metadata\.version"):
        admin_tool.parse_feature_mapping("Exception in thread main ...")


def test_describe_gives_the_finalized_levels() -> None:
    finalized = admin_tool.parse_finalized(DESCRIBE_4_3)
    assert finalized["metadata.version"] == "4.3-IV0"
    assert finalized["kraft.version"] == "0" and finalized["share.version"] == "1"
    with pytest.raises(ValueError, match=r"no finalized metadata\.version"):
        admin_tool.parse_finalized("Error while describing features: timed out")


@pytest.mark.parametrize(
    ("older", "newer"),
    [("4.3-IV0", "4.4-IV2"), ("4.4-IV0", "4.4-IV2"), ("3.9-IV0", "4.0-IV0"), ("4.4", "4.4-IV0"),
     ("3.3-IV3", "3.10-IV0")],
)  # fmt: skip
def test_metadata_versions_order_by_release_then_iv(older: str, newer: str) -> None:
    assert admin_tool.metadata_order(older) < admin_tool.metadata_order(newer)


def test_an_upgrade_raises_what_is_below_the_release_but_never_kraft_version() -> None:
    wanted, name = admin_tool.parse_feature_mapping(MAPPING_4_4)
    finalized = admin_tool.parse_finalized(DESCRIBE_4_3)
    below = admin_tool.levels_to_raise(wanted, name, finalized, features.HELD)
    # kraft.version 1 would turn the static quorum into a dynamic one (KAFKA-21426).
    assert below == {"metadata.version": 33, "share.version": 2}


def test_nothing_is_raised_once_finalized_and_nothing_is_lowered() -> None:
    wanted, name = admin_tool.parse_feature_mapping(MAPPING_4_4)
    done = {**admin_tool.parse_finalized(DESCRIBE_4_3), "metadata.version": "4.4-IV2",
            "share.version": "2"}  # fmt: skip
    assert admin_tool.levels_to_raise(wanted, name, done, features.HELD) == {}
    # Raised by hand above the release: left alone, not lowered.
    above = {**done, "metadata.version": "4.5-IV0", "group.version": "2"}
    assert admin_tool.levels_to_raise(wanted, name, above, features.HELD) == {}
    # A feature the cluster has never finalized counts as level 0.
    missing = {k: v for k, v in done.items() if k != "streams.version"}
    assert admin_tool.levels_to_raise(wanted, name, missing, features.HELD) == {
        "streams.version": 1
    }


def test_the_record_names_the_release_line_and_reads_back() -> None:
    text = features.record_text("4.4.0")
    assert text.startswith("# managed by Timestack") and "release=4.4\n" in text
    assert features.parse_record(text) == (4, 4)
    assert features.record_text("4.4.1") == text  # patch releases share the line's levels
    assert features.parse_record(None) is None
    assert features.parse_record("garbage") is None


@pytest.mark.parametrize(
    ("version", "finalized"),
    [("4.4.0", (4, 4)), ("4.4.1", (4, 4)), ("4.5.0", (4, 4)), ("4.3.1", None), ("5.0.0", (4, 9))],
)
def test_the_same_line_or_newer_is_allowed(version: str, finalized: tuple[int, int] | None) -> None:
    assert features.downgrade_refusal("kafka1", version, finalized) is None


def test_a_release_older_than_the_finalized_line_is_refused_with_the_reason() -> None:
    refusal = features.downgrade_refusal("kafka1", "4.3.1", (4, 4))
    assert refusal is not None
    assert str(refusal) == (
        "kafka1: kafka.version: got 4.3.1; expected 4.4.0 or later: this cluster's feature "
        "levels are finalized to release 4.4 (/etc/kafka/features.state), metadata.version "
        'cannot be lowered, and Kafka 4.3 stops at start with "Unsupported metadata version"; '
        'nothing was changed (docs/kafka.md, "Release upgrades")'
    )
    assert features.downgrade_refusal("kafka1", "3.9.1", (4, 0)) is not None


def test_the_record_fact_reads_what_the_format_writes_and_keeps_an_existing_one(
    tmp_path: Path,
) -> None:
    """The fact and the format's command (roles/kafka/operations.py) run with bash on a file
    of their own: absent, then written at the first format, then kept at a later one."""
    record, fact = tmp_path / "features.state", FeaturesRecord()
    read = fact.command(path=str(record))
    assert fact.process(sh(read)) is None
    write = f"[ -f {record} ] || printf %s {shlex.quote(features.record_text('4.3.1'))} > {record}"
    subprocess.run(["bash", "-c", write], check=True)
    assert features.parse_record(fact.process(sh(read))) == (4, 3)
    record.write_text(features.record_text("4.4.0"))
    subprocess.run(["bash", "-c", write], check=True)
    assert features.parse_record(fact.process(sh(read))) == (4, 4)


def test_the_deploy_finalizes_only_when_the_record_names_another_release_line() -> None:
    """operations.features_finalized with the record given: the same line is a no-op that
    reads nothing else; another line waits for a healthy cluster, raises the levels with
    kraft.version held (never --release-version), then writes the record."""
    health = operations.Health("kafka1", "kafka1:9094", "/opt/kafka", 1, (1, 2, 3))
    arguments = {"health": health, "version": "4.4.0", "log_dir": "/var/log/kafka", "timeout": 300}
    with FactHost("kafka1").context() as fake:
        fake.facts[FeaturesRecord] = features.record_text("4.4.1")
        assert commands(operations.features_finalized, **arguments) == []
        assert fake.reads == [FeaturesRecord] and "release 4.4" in fake.noops[0]
    # Another host (a record is read once per host and run: roles/once.py).
    with FactHost("kafka2").context() as fake:
        fake.facts[FeaturesRecord] = features.record_text("4.3.1")
        wait, finalize, record, chmod = commands(operations.features_finalized, **arguments)
    assert " health " in wait and "--voters 1,2,3" in wait
    assert " features " in finalize and finalize.endswith("--hold kraft.version --apply")
    assert "--release-version" not in finalize and "LOG_DIR=/var/log/kafka" in finalize
    assert record.startswith(f"upload {features.record_text('4.4.0')!r} to {features.RECORD}")
    assert chmod == f"chmod 644 {features.RECORD}"
