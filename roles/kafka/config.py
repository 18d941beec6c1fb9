"""What the Kafka role wants on a host, as pure data: paths, packages, server.properties.

No pyinfra here: the deploy and the verify suite both call these functions, so what is
checked is exactly what was deployed. Every number written to server.properties is in
`server_properties` with its reason (the seed's tuning included), never in a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from roles import kafka_clients
from roles.kafka.cluster import (
    Broker,
    cluster_id,
    min_insync_replicas,
    quorum_voters,
    replication_factor,
    this_broker,
)
from roles.spec import HostSpec, KafkaSpec

GIB, MIB = 1024**3, 1024**2

USER = "kafka"
CONFIG_DIR = "/etc/kafka"
SERVER_PROPERTIES = f"{CONFIG_DIR}/server.properties"
# The JMX exporter agent's rules (templates/kafka/jmx-exporter.yml.j2).
JMX_EXPORTER_CONFIG = f"{CONFIG_DIR}/jmx-exporter.yml"
UNIT = "kafka.service"
# Archives stay here after unpacking: their checksum is what makes the next run a no-op.
ARCHIVE_CACHE = "/var/cache/timestack/kafka"
# The on-host admin tool (roles/kafka/admin_tool.py) the facts and health checks run.
ADMIN_SCRIPT = "/usr/local/lib/timestack/kafka_admin.py"
# Written into the unpacked tree: the SHA-512 of the archive it came from.
INSTALLED_MARKER = ".timestack-archive.sha512"
# Debian's librdkafka binding: the admin tool needs nothing from PyPI on the host.
CLIENT_PACKAGES = ("python3", "python3-confluent-kafka")
JAVA_BY_RELEASE = {
    "bookworm": "openjdk-17-jre-headless",
    "trixie": "openjdk-21-jre-headless",
}
BROKER_LISTENER, CONTROLLER_LISTENER = "PLAINTEXT", "CONTROLLER"
# kafka.security sasl_ssl: applications on CLIENT, brokers and on-host administration on
# INTERNAL, KRaft on CONTROLLER (roles/kafka_clients.py says who uses which).
CLIENT_LISTENER, INTERNAL_LISTENER = "CLIENT", "INTERNAL"
# kafka.plaintext_migration keeps the deployed PLAINTEXT listeners (BROKER_LISTENER and this)
# beside the new ones. The old controller listener is renamed, so the TLS one has its final
# name from the start (in a static quorum a listener's name is local to each node).
PLAINTEXT_CONTROLLER = "PLAINTEXT_CONTROLLER"
# Clients of the PLAINTEXT listeners during a migration: super user, as they were before.
ANONYMOUS = "User:ANONYMOUS"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


# What a deploy reads of a deployed server.properties to know its stage.
LISTENER_KEYS = ("listeners", "listener.security.protocol.map", "inter.broker.listener.name")
# The listeners server.properties describes (see docs/kafka.md, "Moving a PLAINTEXT cluster
# to SASL_SSL"): plaintext; opening, the migration's first roll (TLS listeners added, Kafka
# still talks PLAINTEXT); migrating (Kafka talks TLS, PLAINTEXT still open for applications);
# secured.
Stage = Literal["plaintext", "opening", "migrating", "secured"]


def wanted_stage(kafka: KafkaSpec) -> Stage:
    """The stage host data asks for (opening is only ever a step on the way)."""
    if not kafka_clients.secured(kafka):
        return "plaintext"
    return "secured" if kafka.plaintext_migration is None else "migrating"


def _protocols(properties: dict[str, str]) -> dict[str, str]:
    """listener.security.protocol.map as listener name -> security protocol."""
    pairs = properties.get("listener.security.protocol.map", "").split(",")
    return dict(pair.strip().split(":", 1) for pair in pairs if ":" in pair)


def deployed_stage(properties: dict[str, str]) -> Stage:
    """The stage of a deployed server.properties, from its listeners' protocols."""
    protocols = _protocols(properties)
    if "PLAINTEXT" not in protocols.values():
        return "secured"
    if set(protocols.values()) == {"PLAINTEXT"}:
        return "plaintext"
    inter_broker = protocols.get(properties.get("inter.broker.listener.name", ""), "")
    return "opening" if inter_broker == "PLAINTEXT" else "migrating"


def plaintext_ports(properties: dict[str, str]) -> set[int]:
    """Ports of the deployed PLAINTEXT listeners."""
    protocols, ports = _protocols(properties), set()
    for listener in properties.get("listeners", "").split(","):
        name, _, address = listener.strip().partition("://")
        port = address.rpartition(":")[2]
        if protocols.get(name) == "PLAINTEXT" and port.isdigit():
            ports.add(int(port))
    return ports


class UnknownRelease(ValueError):
    pass


@dataclass(frozen=True)
class Property:
    key: str
    value: str
    why: str


def release_dir(kafka: KafkaSpec) -> str:
    """Where this release is unpacked: <install_dir>/kafka_<scala>-<version>."""
    return f"{kafka.install_dir.rstrip('/')}/kafka_{kafka.scala_version}-{kafka.version}"


def home(kafka: KafkaSpec) -> str:
    """The stable symlink to the current release; the unit and the tools use it."""
    return f"{kafka.install_dir.rstrip('/')}/kafka"


def bootstrap(spec: HostSpec) -> str:
    """Where on-host administration connects (roles/kafka_clients.py: admin_bootstrap)."""
    return kafka_clients.admin_bootstrap(spec)


def java_package(kafka: KafkaSpec, codename: str) -> str:
    if kafka.java_package:
        return kafka.java_package
    if codename not in JAVA_BY_RELEASE:
        known = ", ".join(f"{name} ({pkg})" for name, pkg in JAVA_BY_RELEASE.items())
        raise UnknownRelease(
            f"kafka.java_package: Debian release {codename or 'unknown'!r} has no default Java "
            f"runtime here (known: {known}); set kafka.java_package, e.g. "
            "openjdk-21-jre-headless"
        )
    return JAVA_BY_RELEASE[codename]


def packages(kafka: KafkaSpec, codename: str) -> list[str]:
    return [java_package(kafka, codename), *CLIENT_PACKAGES]


def jmx_agent_option(jar: str, address: str, port: int) -> str:
    """The -javaagent option loading the JMX exporter: it serves /metrics on address:port
    (the name Prometheus dials, never every address) with JMX_EXPORTER_CONFIG's rules."""
    return f"-javaagent:{jar}={address}:{port}:{JMX_EXPORTER_CONFIG}"


def heap_options(heap_bytes: int) -> str:
    """KAFKA_HEAP_OPTS: a fixed heap (-Xms = -Xmx), so it is reserved up front."""
    mib = max(1, heap_bytes // MIB)
    return f"-Xms{mib}m -Xmx{mib}m"


# The seed's broker tuning, with its reasons. Host data overrides any of these through
# kafka.settings.
TUNING: tuple[Property, ...] = (
    Property("num.network.threads", "8", "sockets: many producers sending small batches"),
    Property("num.io.threads", "16", "disk I/O: about one per core on 16-20 core brokers"),
    Property("log.segment.bytes", str(GIB), "1 GiB segments (Kafka's default, pinned so it stays)"),
    Property("log.retention.hours", "168", "7 days of data on the brokers"),
    Property("compression.type", "snappy", "cheap on CPU; topics are declared snappy too"),
    Property("num.partitions", "10", "topics created without a count get the seed's 10"),
    Property(
        "auto.create.topics.enable",
        "false",
        "topics are declared in host data: a mistyped topic name must fail, not create one",
    ),
)


def _listener_host(address: str) -> str:
    """The host part of a listener URL: empty binds every address, IPv6 goes in brackets."""
    if address == "*":
        return ""
    return f"[{address}]" if ":" in address else address


def _kraft(spec: HostSpec, cluster: Sequence[Broker], stage: Stage) -> list[Property]:
    kafka, me = spec.kafka, this_broker(spec, cluster)
    migration = kafka.plaintext_migration
    voters = quorum_voters(cluster)
    if stage == "opening" and migration is not None:
        voters = quorum_voters(cluster, migration.controller_port)
    listeners = _plaintext(spec, me) if stage == "plaintext" else _secured(spec, cluster, stage)
    return [
        Property("process.roles", "broker,controller", "KRaft combined mode on every host"),
        Property(
            "node.id",
            str(me.node_id),
            "kafka.node_id" if kafka.node_id is not None else "position in group kafka",
        ),
        Property(
            "controller.quorum.voters",
            voters,
            f"every host in group kafka ({len(cluster)}) is a controller",
        ),
        *listeners,
        Property("log.dirs", ",".join(kafka.data_dirs), "kafka.data_dirs"),
    ]


def _plaintext(spec: HostSpec, me: Broker) -> list[Property]:
    """kafka.security plaintext: the listeners of clusters deployed before security existed."""
    kafka, bind = spec.kafka, _listener_host(spec.kafka.listen_address)
    protocols = f"{BROKER_LISTENER}:PLAINTEXT,{CONTROLLER_LISTENER}:PLAINTEXT"
    return [
        Property("controller.listener.names", CONTROLLER_LISTENER, "KRaft's own listener"),
        Property(
            "listeners",
            f"{BROKER_LISTENER}://{bind}:{kafka.port},"
            f"{CONTROLLER_LISTENER}://{bind}:{kafka.controller_port}",
            "kafka.listen_address, kafka.port and kafka.controller_port",
        ),
        Property(
            "advertised.listeners",
            f"{BROKER_LISTENER}://{me.address}:{kafka.port}",
            "kafka.advertised_host, else the inventory name",
        ),
        Property("inter.broker.listener.name", BROKER_LISTENER, "brokers talk on the broker port"),
        Property("listener.security.protocol.map", protocols, "kafka.security plaintext: no TLS"),
    ]


def super_users(cluster: Sequence[Broker]) -> str:
    """Every broker's certificate principal: what it authenticates as on INTERNAL and
    CONTROLLER. Kafka names a certificate by its subject in RFC 2253 order (CN first)."""
    return ";".join(f"User:{broker.principal}" for broker in cluster)


def _secured(spec: HostSpec, cluster: Sequence[Broker], stage: Stage) -> list[Property]:
    """kafka.security sasl_ssl: TLS everywhere, SCRAM for applications, certificates for the
    brokers (see docs/kafka.md, "Listeners and why"). Opening and migrating keep the deployed
    PLAINTEXT listeners beside them; opening still routes Kafka's own traffic over them."""
    kafka, me, bind = (
        spec.kafka,
        this_broker(spec, cluster),
        _listener_host(spec.kafka.listen_address),
    )
    client, internal = CLIENT_LISTENER.lower(), INTERNAL_LISTENER.lower()
    controller = CONTROLLER_LISTENER.lower()
    mechanism = kafka_clients.SCRAM_MECHANISM
    listeners = [f"{CLIENT_LISTENER}://{bind}:{kafka.port}",
                 f"{INTERNAL_LISTENER}://{bind}:{kafka.internal_port}",
                 f"{CONTROLLER_LISTENER}://{bind}:{kafka.controller_port}"]  # fmt: skip
    advertised = [f"{CLIENT_LISTENER}://{me.address}:{kafka.port}",
                  f"{INTERNAL_LISTENER}://{me.address}:{kafka.internal_port}"]  # fmt: skip
    protocols = [f"{CLIENT_LISTENER}:SASL_SSL", f"{INTERNAL_LISTENER}:SSL",
                 f"{CONTROLLER_LISTENER}:SSL"]  # fmt: skip
    controllers, inter_broker = [CONTROLLER_LISTENER], INTERNAL_LISTENER
    supers = super_users(cluster)
    why, controller_why = "kafka.security sasl_ssl: no PLAINTEXT listener", "KRaft's own listener"
    migration = kafka.plaintext_migration
    if stage in ("opening", "migrating") and migration is not None:
        listeners += [f"{BROKER_LISTENER}://{bind}:{migration.port}",
                      f"{PLAINTEXT_CONTROLLER}://{bind}:{migration.controller_port}"]  # fmt: skip
        advertised.append(f"{BROKER_LISTENER}://{me.address}:{migration.port}")
        protocols += [f"{BROKER_LISTENER}:PLAINTEXT", f"{PLAINTEXT_CONTROLLER}:PLAINTEXT"]
        controllers.append(PLAINTEXT_CONTROLLER)
        supers += f";{ANONYMOUS}"
        why = "kafka.plaintext_migration: PLAINTEXT open until applications moved"
        controller_why = "KRaft's listeners: a node dials the others on the first"
        if stage == "opening":
            controllers.reverse()
            inter_broker = BROKER_LISTENER
    return [
        Property("controller.listener.names", ",".join(controllers), controller_why),
        Property(
            "listeners",
            ",".join(listeners),
            "kafka.listen_address, kafka.port, kafka.internal_port and kafka.controller_port",
        ),
        Property(
            "advertised.listeners",
            ",".join(advertised),
            "kafka.advertised_host, else the inventory name (a name of the host's certificate)",
        ),
        Property(
            "inter.broker.listener.name",
            inter_broker,
            "brokers authenticate to each other by certificate: no password to bootstrap",
        ),
        Property("listener.security.protocol.map", ",".join(protocols), why),
        Property("ssl.keystore.type", "PEM", "the host's key and certificate from Timestack's CA"),
        Property("ssl.keystore.location", kafka_clients.KEYSTORE, "0600, owner kafka"),
        Property("ssl.truststore.type", "PEM", "Timestack's CA certificate"),
        Property("ssl.truststore.location", kafka_clients.CA_CERT, "trust only Timestack's CA"),
        Property(
            "ssl.endpoint.identification.algorithm",
            "https",
            "brokers check each other's name against the certificate (Kafka's default)",
        ),
        Property(
            f"listener.name.{internal}.ssl.client.auth",
            "required",
            "mutual TLS: a broker or the on-host administration shows its certificate",
        ),
        Property(
            f"listener.name.{controller}.ssl.client.auth",
            "required",
            "mutual TLS: controllers authenticate before any metadata (or SCRAM user) exists",
        ),
        Property("sasl.enabled.mechanisms", mechanism, "SCRAM only: no PLAIN passwords"),
        Property(
            f"listener.name.{client}.sasl.enabled.mechanisms",
            mechanism,
            "the client listener takes SCRAM-SHA-512 only",
        ),
        Property(
            f"listener.name.{client}.{mechanism.lower()}.sasl.jaas.config",
            SCRAM_LOGIN,
            "the server side of SCRAM: credentials live in the cluster's metadata",
        ),
        Property("authorizer.class.name", AUTHORIZER, "KRaft's ACL authorizer"),
        Property(
            "allow.everyone.if.no.acl.found",
            "false",
            "a resource without ACLs is closed, not open",
        ),
        Property("super.users", supers, "the brokers' certificates (group kafka)"),
    ]


def _replication(broker_count: int) -> list[Property]:
    factor, min_isr = replication_factor(broker_count), min_insync_replicas(broker_count)
    why = f"{broker_count} broker(s): never more copies than brokers"
    return [
        Property("default.replication.factor", str(factor), why),
        Property("min.insync.replicas", str(min_isr), "one copy may be down for acks=all"),
        Property("offsets.topic.replication.factor", str(factor), why),
        Property("transaction.state.log.replication.factor", str(factor), why),
        Property("transaction.state.log.min.isr", str(min_isr), "as min.insync.replicas"),
    ]


def server_properties(
    spec: HostSpec, cluster: Sequence[Broker], stage: Stage | None = None
) -> list[Property]:
    """Every line of server.properties, in file order; kafka.settings win over the rest.
    `stage` defaults to the one host data asks for."""
    stage = stage or wanted_stage(spec.kafka)
    computed = [*_kraft(spec, cluster, stage), *TUNING, *_replication(len(cluster))]
    overrides = spec.kafka.settings
    kept = [p for p in computed if p.key not in overrides]
    return kept + [
        Property(key, value, "kafka.settings from host data") for key, value in overrides.items()
    ]


def as_dict(properties: Sequence[Property]) -> dict[str, str]:
    return {p.key: p.value for p in properties}


def parse_properties(text: str) -> dict[str, str]:
    """key=value lines of a .properties file (comments and blank lines skipped)."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "!")) and "=" in stripped:
            key, value = stripped.split("=", 1)
            values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Storage:
    """What `kafka-storage.sh format` must have written into every data dir."""

    cluster_id: str
    node_id: int


def storage(spec: HostSpec, cluster: Sequence[Broker]) -> Storage:
    return Storage(cluster_id(spec, cluster), this_broker(spec, cluster).node_id)
