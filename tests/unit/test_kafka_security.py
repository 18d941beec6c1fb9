"""Kafka's secured listeners (kafka.security sasl_ssl, the default) and the plaintext mode
kept for existing clusters: server.properties, the client configurations Timestack's own
clients get, the refusals of host data, and the ingest writer's side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roles import kafka_clients
from roles.ingest.config import KAFKA_CA, KAFKA_PASSWORD, load, primaries, writer_config
from roles.ingest.writer.__main__ import consumer_config
from roles.kafka import config
from roles.kafka.cluster import brokers, certificate_principal
from roles.spec import FieldError, HostInput, HostSpec, SpecError, validate_inventory
from tests.unit.conftest import KAFKA_PASSWORDS
from tests.unit.test_ingest_inventory import BROKERS, SECRETS, prod_like
from tests.unit.test_ingest_inventory import refusals as ingest_refusals

TOPICS = [{"name": "vehicle-telemetry", "replication_factor": 1}, {"name": "factory-metrics"}]
APP = {
    "name": "telemetry-app",
    "password_env": "TS_TEST_APP_KAFKA_PW",
    "produce": ["vehicle-telemetry"],
    "consume": ["factory-metrics"],
    "groups": ["app-*"],
}


@pytest.fixture(autouse=True)
def _app_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_TEST_APP_KAFKA_PW", "app-Kafka-password-1")
    for name, value in SECRETS.items():  # the group data's database roles
        monkeypatch.setenv(name, value)


def inventory(
    *hosts: tuple[str, dict[str, Any]], groups: frozenset[str] = frozenset({"kafka"})
) -> list[HostSpec]:
    specs = validate_inventory([HostInput(name, groups, data) for name, data in hosts])
    return list(specs.values())


def properties(specs: list[HostSpec], index: int = 0) -> dict[str, str]:
    return config.as_dict(config.server_properties(specs[index], brokers(specs)))


def errors(
    *hosts: tuple[str, dict[str, Any]], groups: frozenset[str] = frozenset({"kafka"})
) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate_inventory([HostInput(name, groups, data) for name, data in hosts])
    return [str(error) for error in caught.value.errors]


THREE = [(f"k{n}.example.net", {"kafka": {"topics": TOPICS}}) for n in (1, 2, 3)]


# ---------------------------------------------------------------------------------------
# server.properties


def test_no_plaintext_listener_remains_by_default() -> None:
    props = properties(inventory(*THREE))
    assert props["listeners"] == "CLIENT://:9092,INTERNAL://:9094,CONTROLLER://:9093"
    assert (
        props["advertised.listeners"]
        == "CLIENT://k1.example.net:9092,INTERNAL://k1.example.net:9094"
    )
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert "PLAINTEXT" not in json.dumps(props)


def test_brokers_and_controllers_must_show_a_certificate_clients_scram() -> None:
    props = properties(inventory(*THREE))
    assert props["listener.name.internal.ssl.client.auth"] == "required"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "listener.name.client.ssl.client.auth" not in props
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.client.scram-sha-512.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    )
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.location"] == kafka_clients.KEYSTORE
    assert props["ssl.truststore.location"] == kafka_clients.CA_CERT
    assert props["ssl.endpoint.identification.algorithm"] == "https"


def test_acls_are_enforced_and_the_brokers_certificates_are_super_users() -> None:
    props = properties(inventory(*THREE))
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == ";".join(
        f"User:CN=k{n}.example.net,O=Timestack" for n in (1, 2, 3)
    )


def test_a_broker_principal_is_its_certificate_subject_in_rfc2253_order() -> None:
    (spec,) = inventory(("@docker/ts-kafka1", {"backup": {"address": "kafka1.internal"}}))
    assert certificate_principal(spec) == "CN=kafka1.internal,O=Timestack"


def test_internal_port_is_host_data() -> None:
    props = properties(inventory(("k1", {"kafka": {"internal_port": 19094}})))
    assert "INTERNAL://:19094" in props["listeners"]


def test_plaintext_mode_keeps_the_listeners_of_existing_clusters_exactly() -> None:
    props = properties(inventory(("@docker/ts-kafka1", {"kafka": {"security": "plaintext"}})))
    assert props["listeners"] == "PLAINTEXT://:9092,CONTROLLER://:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://ts-kafka1:9092"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert not {"super.users", "authorizer.class.name", "ssl.keystore.location"} & set(props)


# ---------------------------------------------------------------------------------------
# Client configurations


def test_on_host_administration_uses_the_hosts_certificate_on_the_internal_listener() -> None:
    (spec,) = inventory(("@docker/ts-kafka1", {}))
    assert config.bootstrap(spec) == "ts-kafka1:9094"
    assert kafka_clients.admin_client(spec.kafka) == {
        "security.protocol": "SSL",
        "ssl.key.location": "/etc/kafka/tls/host.pem",
        "ssl.certificate.location": "/etc/kafka/tls/host.pem",
        "ssl.ca.location": "/etc/kafka/tls/ca.crt",
        "ssl.endpoint.identification.algorithm": "https",
    }
    assert kafka_clients.admin_properties(spec.kafka) == {
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": "/etc/kafka/tls/host.pem",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/kafka/tls/ca.crt",
    }
    text = kafka_clients.properties_text(kafka_clients.admin_properties(spec.kafka), "header")
    assert text.startswith("# header\n") and "password" not in text


def test_plaintext_administration_stays_on_loopback_without_settings() -> None:
    (spec,) = inventory(("@docker/ts-kafka1", {"kafka": {"security": "plaintext"}}))
    assert config.bootstrap(spec) == "127.0.0.1:9092"
    assert (
        kafka_clients.admin_client(spec.kafka) == kafka_clients.admin_properties(spec.kafka) == {}
    )
    assert kafka_clients.lag_client(spec) == {}


def test_the_lag_collector_logs_in_as_its_own_principal() -> None:
    (spec,) = inventory(("@docker/ts-kafka1", {}))
    assert kafka_clients.local_client_bootstrap(spec) == "ts-kafka1:9092"
    assert kafka_clients.lag_client(spec) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "timestack-kafka-lag",
        "sasl.password": KAFKA_PASSWORDS["TIMESTACK_KAFKA_LAG_PASSWORD"],
        "ssl.ca.location": "/etc/kafka/tls/ca.crt",
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_bookworms_librdkafka_cannot_log_in_with_scram_to_kafka_4() -> None:
    assert "2.6.1" in (kafka_clients.scram_unsupported("bookworm") or "")
    assert kafka_clients.scram_unsupported("trixie") is None


# ---------------------------------------------------------------------------------------
# The ingest writers' side


def writer_document(hosts: list[HostInput]) -> dict[str, Any]:
    from roles.hostdata import validate

    specs = validate(hosts)
    (primary,) = primaries(specs)
    return writer_config(specs[BROKERS[0]], specs, primary, load(primary))


def test_writers_log_in_with_scram_and_read_the_password_from_a_file() -> None:
    document = writer_document(prod_like())
    kafka = document["kafka"]
    assert kafka["security.protocol"] == "SASL_SSL"
    assert kafka["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert kafka["sasl.username"] == "timestack-ingest"
    assert kafka["ssl.ca.location"] == KAFKA_CA
    assert "sasl.password" not in kafka
    assert document["kafka_password_file"] == KAFKA_PASSWORD
    assert KAFKA_PASSWORDS["TIMESTACK_KAFKA_INGEST_PASSWORD"] not in json.dumps(document)


def test_plaintext_writers_get_no_security_settings() -> None:
    document = writer_document(prod_like(broker={"kafka": {"security": "plaintext"}}))
    assert "security.protocol" not in document["kafka"]
    assert "kafka_password_file" not in document


def test_the_writer_adds_its_password_from_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka.password"
    secret.write_text("from-the-file\n")
    settings = consumer_config(
        {"kafka": {"sasl.username": "u"}, "kafka_password_file": str(secret)}, "h"
    )
    assert settings["sasl.password"] == "from-the-file"
    assert "sasl.password" not in consumer_config({"kafka": {}}, "h")


def test_writers_without_their_principals_password_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIMESTACK_KAFKA_INGEST_PASSWORD")
    found = ingest_refusals(prod_like())
    assert (
        FieldError(
            BROKERS[0],
            "kafka.ingest_password_env",
            "'TIMESTACK_KAFKA_INGEST_PASSWORD'",
            "environment variable TIMESTACK_KAFKA_INGEST_PASSWORD to be set and non-empty where "
            "pyinfra runs",
        )
        in found
    )


# ---------------------------------------------------------------------------------------
# Refusals of host data


def with_principals(*principals: dict[str, Any], **kafka: Any) -> list[tuple[str, dict[str, Any]]]:
    return [("k1", {"kafka": {"topics": TOPICS, "principals": list(principals), **kafka}})]


def test_declared_principals_are_accepted() -> None:
    (spec,) = inventory(*with_principals(APP))
    assert spec.kafka.principals[0].secret() == "app-Kafka-password-1"


def test_an_acl_on_a_topic_not_declared_is_refused_but_a_prefix_is_not() -> None:
    found = errors(*with_principals({**APP, "produce": ["vehicle-telemetri", "scratch-*"]}))
    assert found == [
        "k1: kafka.principals[telemetry-app].produce: got 'vehicle-telemetri'; expected a topic "
        'of kafka.topics (factory-metrics, vehicle-telemetry), or a prefix ending in "*"'
    ]


def test_a_principal_without_a_password_is_refused() -> None:
    found = errors(*with_principals({"name": "reader", "consume": ["factory-metrics"]}))
    assert found == [
        "k1: kafka.principals[reader].password_env: got nothing; expected an environment "
        "variable holding its password (it logs in with SCRAM-SHA-512), e.g. "
        "TIMESTACK_KAFKA_READER_PASSWORD"
    ]


def test_a_password_variable_that_is_not_set_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TS_TEST_APP_KAFKA_PW")
    (found,) = errors(*with_principals(APP))
    assert "kafka.principals[telemetry-app].password_env: got 'TS_TEST_APP_KAFKA_PW'" in found


def test_duplicate_principals_are_refused() -> None:
    found = errors(*with_principals(APP, APP))
    assert found == [
        "k1: kafka.principals[telemetry-app]: got 'telemetry-app'; expected each principal "
        "declared once (found 2)"
    ]


@pytest.mark.parametrize("name", ["timestack-ingest", "timestack-kafka-lag"])
def test_timestack_own_principal_names_are_refused(name: str) -> None:
    (found,) = errors(*with_principals({**APP, "name": name}))
    assert found.startswith(f"k1: kafka.principals[{name}].name: got '{name}'; expected another")


def test_a_name_kafka_would_escape_is_refused() -> None:
    (found,) = errors(*with_principals({**APP, "name": "CN=k1,O=Timestack"}))
    assert found.startswith("k1: kafka.principals[CN=k1,O=Timestack].name: got ")
    assert found.endswith(
        'expected a principal name of letters, digits, ".", "_", "-" (at most 64 chars)'
    )


def test_principals_under_plaintext_are_refused() -> None:
    (found,) = errors(*with_principals(APP, security="plaintext"))
    assert found.startswith(
        "k1: kafka.principals: got 1 principal(s) with kafka.security plaintext"
    )


def test_one_cluster_has_one_security_mode() -> None:
    hosts = [
        (name, {"kafka": {"security": "plaintext"}} if name == "k2" else {})
        for name in ("k1", "k2", "k3")
    ]
    assert errors(*hosts) == [
        "k2: kafka.security: got plaintext; expected sasl_ssl, as k1: one cluster, one "
        "security mode"
    ]


def test_the_internal_port_may_not_be_another_listener() -> None:
    (found,) = errors(("k1", {"kafka": {"internal_port": 9093}}))
    assert found.startswith("k1: kafka.internal_port: got 9093; expected a port other than")


def test_the_listeners_and_authorizer_are_not_settings() -> None:
    found = errors(("k1", {"kafka": {"settings": {"super.users": "User:ANONYMOUS"}}}))
    assert found == [
        "k1: kafka.settings[super.users]: got 'User:ANONYMOUS'; expected no super.users here; "
        "set group kafka (Timestack derives it from the brokers' certificates) instead"
    ]
