"""The Kafka cluster as the inventory describes it: brokers, node ids, quorum, cluster id.

Pure (no pyinfra): the deploy, the verify suite and the unit tests all derive the same
cluster from the same host data. Every host in group kafka runs KRaft in combined mode
(broker and controller), so the quorum voters are exactly the brokers.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from roles import kafka_clients, pki
from roles.spec import HostSpec
from roles.spec.kafka import kafka_node_ids

# Fixed namespace for derived cluster ids: the same kafka hosts always give the same id.
CLUSTER_ID_NAMESPACE = uuid.UUID("8f0c5a52-5b0e-4c57-9a52-7c1c3b9e6f21")
# Kafka's reserved ids (Uuid.ZERO_UUID, Uuid.METADATA_TOPIC_ID) are never a cluster id.
_RESERVED_IDS = {bytes(16), (1).to_bytes(16, "big")}
# Replicas Kafka keeps of every partition once there are enough brokers; the minimum
# in-sync count is one less, so one broker may be down without refusing acks=all writes.
MAX_REPLICATION = 3


@dataclass(frozen=True)
class Broker:
    name: str  # inventory name
    node_id: int
    address: str  # what clients and the other controllers connect to
    port: int
    controller_port: int
    # What the broker authenticates as with its certificate (internal and controller
    # listeners): its subject as Kafka writes it, RFC 2253 (CN first).
    principal: str = ""


def address_of(spec: HostSpec) -> str:
    """kafka.advertised_host, else the inventory name without its connector prefix
    (`@docker/ts-kafka1` → `ts-kafka1`)."""
    return kafka_clients.broker_address(spec)


def certificate_principal(spec: HostSpec) -> str:
    """The subject of the host's certificate (roles/pki.py: O=Timestack, CN=<identity>) as
    Kafka's default principal builder names it: X500Principal.getName(), RFC 2253."""
    return f"CN={pki.identity(spec).common_name},O={pki.ORGANIZATION}"


def brokers(specs: Iterable[HostSpec]) -> list[Broker]:
    """The hosts in group kafka, in inventory order, with their node ids."""
    members = [spec for spec in specs if "kafka" in spec.groups]
    ids = kafka_node_ids((spec.name, spec.kafka.node_id) for spec in members)
    return [
        Broker(
            name=spec.name,
            node_id=ids[spec.name],
            address=address_of(spec),
            port=spec.kafka.port,
            controller_port=spec.kafka.controller_port,
            principal=certificate_principal(spec),
        )
        for spec in members
    ]


def quorum_voters(cluster: Sequence[Broker], port: int | None = None) -> str:
    """controller.quorum.voters: `id@host:controller_port` for every broker (`port`: the
    same other port on every broker, a migration's PLAINTEXT controller listener)."""
    return ",".join(f"{b.node_id}@{b.address}:{port or b.controller_port}" for b in cluster)


def replication_factor(broker_count: int) -> int:
    """default.replication.factor (and of the internal topics): never above the brokers."""
    return max(1, min(MAX_REPLICATION, broker_count))


def min_insync_replicas(broker_count: int) -> int:
    """One less than the replication factor, at least 1: 1 broker → 1, 3 or more → 2."""
    return max(1, replication_factor(broker_count) - 1)


def kafka_uuid_text(raw: bytes) -> str:
    """Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def derived_cluster_id(names: Iterable[str]) -> str:
    """A cluster id from the sorted kafka host names (uuid5), in Kafka's 22-character form.

    Like Kafka's Uuid.randomUuid(), an id starting with "-" (read as an option by
    kafka-storage.sh) or a reserved one is skipped: the next candidate is hashed instead.
    """
    key = ",".join(sorted(names))
    attempt = 0
    while True:
        raw = uuid.uuid5(CLUSTER_ID_NAMESPACE, f"{key}#{attempt}" if attempt else key).bytes
        text = kafka_uuid_text(raw)
        if raw not in _RESERVED_IDS and not text.startswith("-"):
            return text
        attempt += 1


def cluster_id(spec: HostSpec, cluster: Sequence[Broker]) -> str:
    """kafka.cluster_id from host data, else derived from the kafka hosts' names."""
    return spec.kafka.cluster_id or derived_cluster_id(b.name for b in cluster)


def this_broker(spec: HostSpec, cluster: Sequence[Broker]) -> Broker:
    for broker in cluster:
        if broker.name == spec.name:
            return broker
    raise ValueError(f"{spec.name} is not in group kafka")


def manages_topics(spec: HostSpec, cluster: Sequence[Broker]) -> bool:
    """Topics are cluster-wide: only the first broker applies them, so brokers never race."""
    return bool(cluster) and cluster[0].name == spec.name
