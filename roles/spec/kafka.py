"""The `kafka` section: release, KRaft identity, listeners, storage, topics.

Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from roles.spec.types import (
    AbsPath,
    DebPackage,
    EnvName,
    Hostname,
    KafkaClusterId,
    KafkaGroupPattern,
    KafkaProperty,
    KafkaValue,
    KafkaVersion,
    ListenAddress,
    Port,
    ReleaseVersion,
    Sha512,
    Size,
    SpecModel,
    TopicName,
    TopicPattern,
)
from roles.spec.types import KafkaUser as KafkaUser


class KafkaTopic(SpecModel):
    name: TopicName = Field(description="topic name")
    partitions: int = Field(10, description="partition count (can only grow)", ge=1)
    replication_factor: int = Field(1, description="copies of each partition", ge=1)
    configs: dict[KafkaProperty, KafkaValue] = Field(
        {}, description="topic configs, e.g. retention.ms"
    )
    state: Literal["present", "absent"] = Field("present", description="absent deletes the topic")


# Timestack's own principals, derived from the inventory (roles/kafka/principals.py): a
# declared principal may not take their names.
INGEST_PRINCIPAL = "timestack-ingest"
LAG_PRINCIPAL = "timestack-kafka-lag"


class KafkaPrincipal(SpecModel):
    """A SCRAM-SHA-512 user of the client listener and the ACLs Timestack gives it (only
    with kafka.security sasl_ssl). Timestack's own clients (the ingest writers, the lag
    collector) are derived, not declared here (roles/kafka/principals.py)."""

    name: KafkaUser = Field(description="SCRAM user name (principal User:<name>)")
    password_env: EnvName | None = Field(
        None, description="environment variable holding its password where pyinfra runs"
    )
    produce: list[TopicPattern] = Field(
        [], description="topics it may write (WRITE, DESCRIBE): kafka.topics names, or prefix*"
    )
    consume: list[TopicPattern] = Field(
        [], description="topics it may read (READ, DESCRIBE): kafka.topics names, or prefix*"
    )
    groups: list[KafkaGroupPattern] = Field(
        [],
        description="consumer groups it may use (READ): ids, prefixes ending in * or * for all",
    )

    def secret(self) -> str | None:
        """The password, read from password_env where pyinfra runs (None: not set)."""
        if not self.password_env:
            return None
        return os.environ.get(self.password_env) or None


# The newest 1.x of the agent on Maven Central (io.prometheus.jmx:jmx_prometheus_javaagent),
# with the SHA-512 of the jar Maven Central serves (its .sha1 matched): a default version is
# pinned, a version host data names needs its own checksum.
JMX_AGENT_VERSION = "1.0.1"
JMX_AGENT_SHA512 = (
    "f81d876e8110cbabd4a9cb3fe1740ec2d896ec4bce5cb5049a2d74c40f437814"
    "18cea246f40e6afdfabbdf0e162cb837625f496dedcb76aebbba53b6ae7cacba"
)


class JmxExporterSpec(SpecModel):
    """The Prometheus JMX exporter's Java agent in the broker's JVM: installed and loaded
    (KAFKA_OPTS in the unit) when the inventory has a `monitoring` group, or `enabled`."""

    enabled: bool | None = Field(
        None,
        description="load the agent; None: when the inventory has a monitoring group (the "
        "Prometheus that scrapes it). True keeps it in an inventory of brokers alone, so a "
        "deploy from one does not take it out (a rolling restart each way)",
    )
    version: ReleaseVersion = Field(JMX_AGENT_VERSION, description="agent release")
    jar: str | None = Field(
        None,
        description="https:// URL of jmx_prometheus_javaagent-<version>.jar (downloaded on the "
        "host) or a path on the machine running pyinfra (uploaded). Default: Maven Central",
    )
    jar_sha512: Sha512 | None = Field(
        None,
        description="SHA-512 of the jar; required unless the version is the default (pinned "
        "here) or the jar is a local file (computed, and checked when given)",
    )
    port: Port = Field(7071, description="the agent's HTTP port; it binds to monitoring.address")

    @field_validator("jar")
    @classmethod
    def _jar_url_or_path(cls, value: str | None) -> str | None:
        return _url_or_path(value, "the agent's .jar")

    @property
    def jar_url(self) -> str:
        name = f"jmx_prometheus_javaagent-{self.version}.jar"
        return self.jar or (
            f"https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/"
            f"{self.version}/{name}"
        )

    @property
    def jar_is_local(self) -> bool:
        return self.jar is not None and "://" not in self.jar

    @property
    def pinned_sha512(self) -> str | None:
        """The checksum the jar must have: host data's, else the default version's."""
        if self.jar_sha512:
            return self.jar_sha512
        return JMX_AGENT_SHA512 if self.version == JMX_AGENT_VERSION else None


def _url_or_path(value: str | None, what: str) -> str | None:
    if value is not None and ("://" in value or not value.strip()):
        scheme, _, rest = value.partition("://")
        if scheme != "https" or not rest.split("/", 1)[0]:
            raise ValueError(f"an https:// URL or a local path to {what}")
    return value


class PlaintextMigrationSpec(SpecModel):
    """The PLAINTEXT listeners a running cluster keeps while it moves to sasl_ssl: its
    applications move to the SASL_SSL listener at their own pace, then a deploy without this
    block closes them (docs/kafka.md, "Moving a PLAINTEXT cluster to SASL_SSL")."""

    port: Port = Field(9092, description="the PLAINTEXT client listener's port, as deployed")
    controller_port: Port = Field(
        9093, description="the PLAINTEXT controller listener's port, as deployed"
    )

    @property
    def ports(self) -> set[int]:
        return {self.port, self.controller_port}


class KafkaSpec(SpecModel):
    version: KafkaVersion = Field("4.4.0", description="Kafka release (4.x: KRaft only, Java 17+)")
    scala_version: Literal["2.12", "2.13"] = Field("2.13", description="Scala build of the release")
    archive: str | None = Field(
        None,
        description="https:// URL of the release .tgz (downloaded on the host) or a path on the "
        "machine running pyinfra (uploaded; for air-gapped sites). Default: archive.apache.org, "
        "checked against the .sha512 Apache publishes next to it unless archive_sha512 pins it",
    )
    archive_sha512: Sha512 | None = Field(
        None,
        description="SHA-512 of the archive; required for a URL, computed when a local file "
        "has none (and checked when it has one)",
    )
    install_dir: AbsPath = Field("/opt", description="where kafka_<scala>-<version> is unpacked")
    java_package: DebPackage | None = Field(
        None,
        description="Java runtime package (default by Debian release: openjdk-17-jre-headless "
        "on bookworm, openjdk-21-jre-headless on trixie)",
    )
    node_id: int | None = Field(
        None, description="KRaft node.id (default: derived from group order)", ge=0
    )
    restart_timeout: int = Field(
        300,
        ge=30,
        le=3600,
        description="seconds a restarted broker has to be back in the quorum, caught up, with "
        "no partition under-replicated, before the rolling restart stops naming it (a JVM "
        "broker replays its logs and its followers catch up: allow for a large one)",
    )
    finalize_features: bool = Field(
        True,
        description="after every broker runs a new release and the cluster is healthy, raise "
        "the finalized feature levels (metadata.version ...) to the release's, kraft.version "
        "apart; false holds them, so the old release can still be installed back (a finalized "
        "metadata.version cannot be lowered)",
    )
    cluster_id: KafkaClusterId | None = Field(
        None, description="KRaft cluster id (default: generated)"
    )
    listen_address: ListenAddress = Field(
        "*",
        description='address the broker and controller listeners bind to; "*" = every '
        "address (brokers serve clients on other hosts); an IP address binds to that interface",
    )
    security: Literal["sasl_ssl", "plaintext"] = Field(
        "sasl_ssl",
        description="sasl_ssl: clients on kafka.port over TLS with SCRAM-SHA-512, brokers and "
        "controllers with certificates from Timestack's CA (mutual TLS), ACLs enforced. "
        "plaintext: the unauthenticated listeners of clusters deployed before. A running "
        "plaintext cluster moves to sasl_ssl through kafka.plaintext_migration",
    )
    plaintext_migration: PlaintextMigrationSpec | None = Field(
        None,
        description="sasl_ssl with the deployed PLAINTEXT listeners kept open beside the new "
        "ones (which need ports of their own): a running plaintext cluster moves in two "
        "rolling restarts, applications move, then a deploy without it closes PLAINTEXT",
    )
    port: Port = Field(9092, description="client listener port (SASL_SSL, SCRAM-SHA-512)")
    controller_port: Port = Field(
        9093, description="KRaft controller listener port (SSL, client certificate required)"
    )
    internal_port: Port = Field(
        9094,
        description="inter-broker listener port (SSL, client certificate required): brokers "
        "and Timestack's on-host administration authenticate with the host's certificate",
    )
    advertised_host: Hostname | None = Field(
        None, description="name clients connect to (default: host)"
    )
    data_dirs: list[AbsPath] = Field(["/var/lib/kafka/data"], description="log.dirs", min_length=1)
    log_dir: AbsPath = Field("/var/log/kafka", description="the broker's own log files (LOG_DIR)")
    heap: Size | None = Field(None, description="JVM heap (default: derived from RAM)")
    nofile: int = Field(
        100000,
        description="open-file limit of the broker (LimitNOFILE): Kafka keeps a log, an index "
        "and a time index open per segment of every partition",
        ge=1024,
    )
    settings: dict[KafkaProperty, KafkaValue] = Field({}, description="server.properties overrides")
    topics: list[KafkaTopic] = Field([], description="topics to manage")
    principals: list[KafkaPrincipal] = Field(
        [], description="SCRAM users and their ACLs (sasl_ssl), reconciled from the first broker"
    )
    ingest_password_env: EnvName | None = Field(
        "TIMESTACK_KAFKA_INGEST_PASSWORD",
        description="environment variable with the password of the ingest writers' principal "
        "(timestack-ingest); needed with sasl_ssl when the inventory has group ingest",
    )
    lag_password_env: EnvName | None = Field(
        "TIMESTACK_KAFKA_LAG_PASSWORD",
        description="environment variable with the password of the lag collector's principal "
        "(timestack-kafka-lag); needed with sasl_ssl when the inventory has group monitoring",
    )
    jmx_exporter: JmxExporterSpec = Field(
        JmxExporterSpec(), description="the Prometheus JMX exporter agent (monitored inventories)"
    )

    @field_validator("archive")
    @classmethod
    def _archive_url_or_path(cls, value: str | None) -> str | None:
        return _url_or_path(value, "the Kafka .tgz")

    @property
    def archive_url(self) -> str:
        """Where the release comes from: `archive`, or the Apache archive for the version."""
        name = f"kafka_{self.scala_version}-{self.version}.tgz"
        return self.archive or f"https://archive.apache.org/dist/kafka/{self.version}/{name}"

    @property
    def archive_is_local(self) -> bool:
        """A path on the machine running pyinfra, uploaded from there."""
        return self.archive is not None and "://" not in self.archive


def kafka_node_ids(brokers: Iterable[tuple[str, int | None]]) -> dict[str, int]:
    """KRaft node.id of each (host, kafka.node_id) in group-kafka order: the id the host data
    sets, else the host's 1-based position in the group. Colliding ids are reported by the
    validator, never silently renumbered (a node id is written into its storage)."""
    return {
        name: explicit if explicit is not None else position
        for position, (name, explicit) in enumerate(brokers, start=1)
    }
