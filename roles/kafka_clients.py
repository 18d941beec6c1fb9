"""How Timestack's own Kafka clients connect, for the roles that run one (kafka: the admin
tool, topic and principal reconciliation; monitoring: the lag collector; ingest: the writers).

With `kafka.security: sasl_ssl` a cluster has three listeners (roles/kafka/config.py):

- the client listener (kafka.port, SASL_SSL, SCRAM-SHA-512): every application, the ingest
  writers and the lag collector, each as its own principal with ACLs;
- the internal listener (kafka.internal_port, SSL, client certificate required): the brokers
  among themselves and Timestack's administration on a broker host, authenticated by the
  host's certificate from Timestack's CA, so it needs no password anywhere;
- the controller listener (kafka.controller_port, SSL, client certificate required).

Pure data, no pyinfra: the deploy, the verify suite and the unit tests share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from roles.spec import HostSpec, KafkaSpec, host_address

# Timestack's own principals: derived from the inventory, never declared (roles/spec/kafka.py).
from roles.spec.kafka import INGEST_PRINCIPAL as INGEST_PRINCIPAL
from roles.spec.kafka import LAG_PRINCIPAL as LAG_PRINCIPAL

SCRAM_MECHANISM = "SCRAM-SHA-512"
TLS_DIR = "/etc/kafka/tls"
# The host's private key followed by its certificate: what Kafka's PEM keystore reads, and
# what librdkafka reads as both key and certificate. 0600 kafka:kafka (root reads it too).
KEYSTORE = f"{TLS_DIR}/host.pem"
# Timestack's CA certificate: the truststore of brokers and of every client (0644).
CA_CERT = f"{TLS_DIR}/ca.crt"
# The on-host administration's client configuration: paths only, no secret (0600 root).
ADMIN_PROPERTIES = "/etc/kafka/admin-client.properties"  # the release's tools (--command-config)
ADMIN_CLIENT = "/etc/kafka/admin-client.json"  # the admin tool (librdkafka)


def env_secret(name: str | None) -> str:
    """A password from the environment where pyinfra runs ("" when unset: the validator has
    refused that wherever the password is needed)."""
    return os.environ.get(name, "") if name else ""


def cluster_spec(specs: Iterable[HostSpec]) -> HostSpec | None:
    """The first broker's host data: what clients of the cluster read its security from."""
    return next((s for s in specs if "kafka" in s.groups), None)


# Debian releases whose librdkafka cannot authenticate with SCRAM to Kafka 4.x: before 2.6.1
# it sends a nonce the brokers reject since 4.0 (confluentinc/librdkafka#4895), "invalid
# credentials" whatever the password. Certificates (the admin tool) work there.
SCRAM_BROKEN_LIBRDKAFKA = {"bookworm": "2.0.2"}


def scram_unsupported(codename: str) -> str | None:
    """Why a SCRAM client cannot run on this Debian release, or None."""
    version = SCRAM_BROKEN_LIBRDKAFKA.get(codename)
    if version is None:
        return None
    return (
        f"Debian {codename}'s librdkafka {version} cannot log in with SCRAM to Kafka 4.x "
        "(fixed in librdkafka 2.6.1; trixie has 2.8)"
    )


def secured(kafka: KafkaSpec) -> bool:
    return kafka.security == "sasl_ssl"


def broker_address(spec: HostSpec) -> str:
    """What clients and the other brokers dial: kafka.advertised_host, else the inventory name
    (both are subject alternative names of the host's certificate)."""
    return spec.kafka.advertised_host or host_address(spec.name)


def client_bootstrap(brokers: Iterable[HostSpec]) -> str:
    """bootstrap.servers of a client on the client listener: every broker."""
    return ",".join(f"{broker_address(b)}:{b.kafka.port}" for b in brokers)


def admin_bootstrap(spec: HostSpec) -> str:
    """Where on-host administration connects. Secured: this broker's internal listener by the
    name its certificate carries (TLS checks it); plaintext: the client port on loopback."""
    if secured(spec.kafka):
        return f"{broker_address(spec)}:{spec.kafka.internal_port}"
    return f"127.0.0.1:{spec.kafka.port}"


def local_client_bootstrap(spec: HostSpec) -> str:
    """The lag collector on a broker: this broker's client listener."""
    if secured(spec.kafka):
        return f"{broker_address(spec)}:{spec.kafka.port}"
    return f"127.0.0.1:{spec.kafka.port}"


def sasl_client(username: str, password: str, ca_file: str) -> dict[str, str]:
    """librdkafka settings of a SCRAM principal on the client listener. The broker's name is
    checked against its certificate (librdkafka 2.x's default, spelled out)."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": SCRAM_MECHANISM,
        "sasl.username": username,
        "sasl.password": password,
        "ssl.ca.location": ca_file,
        "ssl.endpoint.identification.algorithm": "https",
    }


def admin_client(kafka: KafkaSpec) -> dict[str, str]:
    """librdkafka settings of the admin tool: the host's certificate on the internal
    listener (secured), nothing (plaintext)."""
    if not secured(kafka):
        return {}
    return {
        "security.protocol": "SSL",
        "ssl.key.location": KEYSTORE,
        "ssl.certificate.location": KEYSTORE,
        "ssl.ca.location": CA_CERT,
        "ssl.endpoint.identification.algorithm": "https",
    }


def admin_properties(kafka: KafkaSpec) -> dict[str, str]:
    """--command-config of the release's tools: the same identity in Java's terms."""
    if not secured(kafka):
        return {}
    return {
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": KEYSTORE,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": CA_CERT,
    }


def lag_client(spec: HostSpec) -> dict[str, str]:
    """The lag collector's librdkafka settings on a broker (its password: a root-only file)."""
    if not secured(spec.kafka):
        return {}
    return sasl_client(LAG_PRINCIPAL, env_secret(spec.kafka.lag_password_env), CA_CERT)


def properties_text(values: Mapping[str, str], header: str) -> str:
    lines = [f"# {header}"] + [f"{key}={value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
