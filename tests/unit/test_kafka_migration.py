"""Moving a running PLAINTEXT cluster to SASL_SSL (roles/kafka/migration.py): the listeners of
each stage, how a deployed file's stage is read back, which changes are refused, and the host
data a migration needs."""

from __future__ import annotations

from typing import Any

import pytest

from roles.kafka import config, migration
from roles.kafka.cluster import brokers
from roles.kafka.facts import DeployedListeners
from roles.spec import HostSpec
from tests.unit.test_kafka_security import THREE, errors, inventory

MIGRATION = {"port": 9096, "controller_port": 9097, "plaintext_migration": {}}


def cluster(**kafka: Any) -> list[HostSpec]:
    return inventory(*[(name, {"kafka": {**data["kafka"], **kafka}}) for name, data in THREE])


def rendered(specs: list[HostSpec], stage: config.Stage) -> dict[str, str]:
    return config.as_dict(config.server_properties(specs[0], brokers(specs), stage))


PLAINTEXT = rendered(cluster(security="plaintext"), "plaintext")


def test_opening_adds_the_tls_listeners_and_keeps_kafka_on_plaintext() -> None:
    opening = rendered(cluster(**MIGRATION), "opening")
    assert opening["listeners"] == (
        "CLIENT://:9096,INTERNAL://:9094,CONTROLLER://:9097,"
        "PLAINTEXT://:9092,PLAINTEXT_CONTROLLER://:9093"
    )
    assert opening["controller.listener.names"] == "PLAINTEXT_CONTROLLER,CONTROLLER"
    assert opening["inter.broker.listener.name"] == "PLAINTEXT"
    # The voters are dialled where every broker of the old configuration listens.
    assert opening["controller.quorum.voters"] == PLAINTEXT["controller.quorum.voters"]
    assert opening["controller.quorum.voters"].endswith(":9093")
    assert "User:ANONYMOUS" in opening["super.users"].split(";")
    assert opening["allow.everyone.if.no.acl.found"] == "false"


def test_migrating_moves_kafka_to_tls_and_keeps_plaintext_for_applications() -> None:
    specs = cluster(**MIGRATION)
    migrating = config.as_dict(config.server_properties(specs[0], brokers(specs)))
    assert migrating == rendered(specs, "migrating")
    assert migrating["controller.listener.names"] == "CONTROLLER,PLAINTEXT_CONTROLLER"
    assert migrating["inter.broker.listener.name"] == "INTERNAL"
    assert all(
        voter.endswith(":9097") for voter in migrating["controller.quorum.voters"].split(",")
    )
    assert "PLAINTEXT://k1.example.net:9092" in migrating["advertised.listeners"].split(",")


def test_secured_after_a_migration_is_a_fresh_cluster_on_the_new_ports() -> None:
    moved = rendered(cluster(port=9096, controller_port=9097), "secured")
    assert moved == rendered(cluster(port=9096, controller_port=9097), "secured")
    assert "PLAINTEXT" not in moved["listener.security.protocol.map"]
    assert "ANONYMOUS" not in moved["super.users"]
    assert moved["controller.listener.names"] == "CONTROLLER"


@pytest.mark.parametrize("stage", ["opening", "migrating", "secured"])
def test_a_deployed_file_is_read_back_as_its_stage(stage: config.Stage) -> None:
    assert config.deployed_stage(rendered(cluster(**MIGRATION), stage)) == stage
    assert config.deployed_stage(PLAINTEXT) == "plaintext"


def test_the_fact_reads_the_listener_settings_only() -> None:
    fact = DeployedListeners()
    assert fact.process(["absent"]) is None
    lines = [f"{key}={PLAINTEXT[key]}" for key in config.LISTENER_KEYS]
    assert fact.process(["found", *lines]) == {key: PLAINTEXT[key] for key in config.LISTENER_KEYS}
    assert "grep -E" in fact.command()


def test_plaintext_ports_of_each_stage() -> None:
    assert config.plaintext_ports(PLAINTEXT) == {9092, 9093}
    assert config.plaintext_ports(rendered(cluster(**MIGRATION), "migrating")) == {9092, 9093}
    assert config.plaintext_ports(rendered(cluster(**MIGRATION), "secured")) == set()


def refused(kafka: dict[str, Any], deployed: dict[str, str] | None) -> str:
    error = migration.refusal("k1.example.net", cluster(**kafka)[0].kafka, deployed)
    return "" if error is None else str(error)


def test_only_a_migration_declared_with_the_deployed_ports_opens_a_plaintext_cluster() -> None:
    wanted = cluster(**MIGRATION)[0].kafka
    assert migration.opens(wanted, PLAINTEXT)
    assert not refused(MIGRATION, PLAINTEXT)
    assert not migration.opens(wanted, rendered(cluster(**MIGRATION), "opening"))
    assert not migration.opens(wanted, None)
    other = {**MIGRATION, "plaintext_migration": {"port": 9095}}
    assert "the ports of the deployed PLAINTEXT listeners: [9092, 9093]" in refused(
        other, PLAINTEXT
    )


def test_changes_of_security_no_roll_can_make_are_refused() -> None:
    opening = rendered(cluster(**MIGRATION), "opening")
    migrating = rendered(cluster(**MIGRATION), "migrating")
    secured = rendered(cluster(**MIGRATION), "secured")
    assert "kafka.plaintext_migration: got nothing" in refused({}, PLAINTEXT)
    assert "stopped half way" in refused({"port": 9096, "controller_port": 9097}, opening)
    assert not refused({"port": 9096, "controller_port": 9097}, migrating)  # the last roll
    assert "does not open one again" in refused(MIGRATION, secured)
    assert "back to PLAINTEXT" in refused({"security": "plaintext"}, migrating)
    assert not refused({"security": "plaintext"}, PLAINTEXT)
    assert not refused({}, None)
    assert all("nothing was changed" in refused(kafka, found) for kafka, found in (
        ({}, PLAINTEXT), (MIGRATION, secured), ({"security": "plaintext"}, secured)))  # fmt: skip


def test_host_data_of_a_migration_is_checked_before_any_host() -> None:
    clash = errors(*[(n, {"kafka": {"plaintext_migration": {}}}) for n, _ in THREE])
    assert any("kafka.port: got 9092" in e and "PLAINTEXT keeps 9092" in e for e in clash)
    assert any("kafka.controller_port: got 9093" in e for e in clash)
    plain = errors(
        ("k1.example.net", {"kafka": {"security": "plaintext", "plaintext_migration": {}}})
    )
    assert any("no kafka.plaintext_migration under kafka.security plaintext" in e for e in plain)
