"""Apache Kafka in KRaft mode: release archive, system user, server.properties, storage,
systemd unit, and the declared topics."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from io import BytesIO, StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta

from roles import kafka_clients, managed_files, managed_units, packages, pki
from roles.colocation import kafka_heap_bytes
from roles.common.facts import Hardware, platform
from roles.ingest import config as ingest_config
from roles.kafka import config, features, migration, operations, principals
from roles.kafka.archive import Archive, ArchiveError, resolve, resolve_jmx_agent
from roles.kafka.cluster import Broker, brokers, cluster_id, manages_topics, this_broker
from roles.kafka.facts import DeployedListeners
from roles.metrics import MONITORING_GROUP, runs_kafka_agent
from roles.metrics import address as monitoring_address
from roles.once import read_once
from roles.refusal import Refusal
from roles.spec import HostSpec
from roles.system_accounts import system_account
from roles.templating import rendered_file
from roles.unit_files import UNIT_DIR, unit_file

ADMIN_TOOL = Path(__file__).resolve().with_name("admin_tool.py")
# Before each restart the cluster must already be healthy: a broker that did not come back
# stops the rolling restart here instead of taking a second broker down with it. Never longer
# than kafka.restart_timeout: a cluster is not given more time to settle than a broker.
PRECHECK_TIMEOUT = 60


class KafkaDeployError(PyinfraError):
    """Host data that cannot be deployed; raised before this host's Kafka changes."""


@deploy("Kafka (KRaft)")
def apply(spec: HostSpec, inventory_specs: Mapping[str, HostSpec]) -> None:
    kafka = spec.kafka
    cluster = brokers(inventory_specs.values())
    codename = platform().codename
    # The JMX exporter's agent wherever a Prometheus scrapes (deploy.py: a monitoring group).
    monitored = runs_kafka_agent(
        spec, any(MONITORING_GROUP in other.groups for other in inventory_specs.values())
    )
    try:
        archive = resolve(kafka, Path.cwd())
        agent = resolve_jmx_agent(kafka, Path.cwd()) if monitored else None
        debian_packages = config.packages(kafka, codename)
    except (ArchiveError, config.UnknownRelease) as error:
        raise KafkaDeployError(f"{host.name}: {error}") from None
    deployed = read_once(DeployedListeners)
    refused = migration.refusal(host.name, kafka, deployed)
    if refused is not None:
        raise Refusal(refused)
    downgrade = features.downgrade_refusal(host.name, kafka.version, operations.recorded_line())
    if downgrade is not None:
        raise Refusal(downgrade)
    memory = read_once(Hardware, data_directory=kafka.data_dirs[0]).memory_bytes
    home, release = config.home(kafka), config.release_dir(kafka)
    bootstrap = config.bootstrap(spec)
    health = operations.Health(
        host.name, bootstrap, home, this_broker(spec, cluster).node_id,
        tuple(broker.node_id for broker in cluster),
    )  # fmt: skip

    packages.installed(name="Java runtime and the Kafka admin client", packages=debian_packages)
    system_account(
        name="kafka system user and group", user=config.USER, group=config.USER, home="/nonexistent"
    )
    for directory in kafka.data_dirs:
        _directory(f"Data directory {directory}", directory, owner=config.USER)
    _directory("Log directory", kafka.log_dir, owner=config.USER)
    _directory("Configuration directory", config.CONFIG_DIR, owner="root")
    for name, path in (
        ("Archive cache", config.ARCHIVE_CACHE),
        ("Install directory", kafka.install_dir),
        ("Admin tool directory", posixpath.dirname(config.ADMIN_SCRIPT)),
    ):
        managed_files.directory(name=name, path=path, mode="0755")

    operations.archive_in_cache(name="Release archive, checksum verified", archive=archive)
    jmx = _jmx_agent(spec, agent)
    unpacked = operations.release_unpacked(
        name="Release unpacked", archive=archive.cached_path, directory=release
    )
    current = managed_files.link(name=f"{home} points at this release", path=home, target=release)

    tls = _tls_files(spec)
    plaintext_before_rolls = None
    if migration.opens(kafka, deployed):
        plaintext_before_rolls = _opening_roll(spec, cluster, health)
    properties = managed_files.put(
        name="server.properties",
        dest=config.SERVER_PROPERTIES,
        src=rendered_file(
            "kafka/server.properties.j2", properties=config.server_properties(spec, cluster)
        ),
        user="root",
        group=config.USER,
        mode="0640",
    )
    operations.storage_formatted(
        name="Storage formatted once for this cluster",
        kafka_home=home,
        log_dir=kafka.log_dir,
        data_dirs=kafka.data_dirs,
        storage=config.storage(spec, cluster),
        version=kafka.version,
    )
    managed_files.put(name="Admin tool", src=str(ADMIN_TOOL), dest=config.ADMIN_SCRIPT, mode="0755")

    unit = unit_file(
        name="systemd unit",
        dest=f"{UNIT_DIR}/{config.UNIT}",
        src=rendered_file(
            "kafka/kafka.service.j2",
            user=config.USER,
            heap_options=config.heap_options(kafka_heap_bytes(memory, kafka.heap)),
            log_dir=kafka.log_dir,
            home=home,
            properties=config.SERVER_PROPERTIES,
            nofile=kafka.nofile,
            kafka_opts=jmx.option,
        ),
    )
    managed_units.service(
        name="Kafka enabled at boot", service=config.UNIT, running=None, enabled=True
    )
    started = managed_units.service(name="Kafka running", service=config.UNIT, running=True)
    # Decided now, from what the operations above will change on this host, so that `--dry`
    # lists the restart exactly where a run restarts. A broker this run starts already runs
    # with the new files.
    changes = {"server.properties": properties, "the systemd unit": unit,
               "the release": unpacked, f"the {home} link": current,
               "the JMX exporter agent": jmx.jar, "the host's certificate": tls}  # fmt: skip
    because = [what for what, op in changes.items() if op is not None and op.will_change]
    restart = operations.restarted(
        name="Rolling restart for changed configuration or release",
        health=health,
        because=[] if started.will_change else because,
        timeout=spec.kafka.restart_timeout,
        precheck_timeout=min(PRECHECK_TIMEOUT, spec.kafka.restart_timeout),
        _serial=True,
    )
    # Only where this run started or restarted the broker: a run that changed nothing
    # leaves cluster health to the verify suite, as it costs a metadata request per broker.
    operations.cluster_healthy(
        name="Cluster healthy: brokers registered, quorum caught up, no under-replicated partition",
        health=health,
        timeout=spec.kafka.restart_timeout,
        _if=lambda: started.did_change() or restart.did_change(),
    )
    # After the roll, on every broker in turn: the first raises the levels (Kafka refuses a
    # level a registered broker cannot run), each records what it saw finalized.
    if kafka.finalize_features:
        operations.features_finalized(
            name="Feature levels finalized to the release's (kraft.version held)",
            health=health,
            version=kafka.version,
            log_dir=kafka.log_dir,
            timeout=spec.kafka.restart_timeout,
            _serial=True,
        )
    if manages_topics(spec, cluster):
        operations.topics(
            name="Topics as declared",
            bootstrap=bootstrap,
            kafka_home=home,
            log_dir=kafka.log_dir,
            wanted=kafka.topics,
            plaintext_before_rolls=plaintext_before_rolls,
        )
        if kafka_clients.secured(kafka):
            operations.access_control(
                name="Principals and ACLs as declared",
                bootstrap=bootstrap,
                kafka_home=home,
                log_dir=kafka.log_dir,
                wanted=wanted_principals(spec, inventory_specs),
                salt=cluster_id(spec, cluster),
                plaintext_before_rolls=plaintext_before_rolls,
            )


def wanted_principals(
    spec: HostSpec, inventory_specs: Mapping[str, HostSpec]
) -> list[principals.Principal]:
    """kafka.principals, then Timestack's own: the ingest writers (reading the topics of the
    spec's ingest: blocks in their groups) with group ingest, the lag collector with group
    monitoring."""
    kafka, specs = spec.kafka, list(inventory_specs.values())
    wanted = [
        principals.Principal(
            p.name, p.secret() or "", principals.acls_for(p.name, p.produce, p.consume, p.groups)
        )
        for p in kafka.principals
    ]
    writers = [s for s in specs if "ingest" in s.groups]
    primaries = ingest_config.primaries(inventory_specs)
    if writers and primaries:
        loaded = ingest_config.load(primaries[0])
        topics = [table.ingest.topic for table in loaded.spec.ingested if table.ingest]
        groups = sorted({writer.ingest.group_id for writer in writers})
        password = kafka_clients.env_secret(kafka.ingest_password_env)
        wanted.append(principals.ingest_principal(password, topics, groups))
    if any("monitoring" in s.groups for s in specs):
        wanted.append(principals.lag_principal(kafka_clients.env_secret(kafka.lag_password_env)))
    return wanted


def _opening_roll(spec: HostSpec, cluster: Sequence[Broker], health: operations.Health) -> str:
    """A migration's first roll (roles/kafka/migration.py): the TLS listeners open beside
    PLAINTEXT, which brokers and controllers still use, so a restarted broker reaches the
    others. Its health checks ask the PLAINTEXT listener; returns that listener's address."""
    kafka = spec.kafka
    assert kafka.plaintext_migration is not None  # migration.opens
    plaintext = f"127.0.0.1:{kafka.plaintext_migration.port}"
    opened = managed_files.put(
        name="server.properties: TLS listeners beside PLAINTEXT (migration, roll 1 of 2)",
        dest=config.SERVER_PROPERTIES,
        src=rendered_file(
            "kafka/server.properties.j2",
            properties=config.server_properties(spec, cluster, "opening"),
        ),
        user="root",
        group=config.USER,
        mode="0640",
    )
    operations.restarted(
        name="Rolling restart: TLS listeners opened (Kafka still talks PLAINTEXT)",
        health=replace(health, bootstrap=plaintext, client_configs=False),
        because=["the migration's TLS listeners"] if opened.will_change else [],
        timeout=kafka.restart_timeout,
        precheck_timeout=min(PRECHECK_TIMEOUT, kafka.restart_timeout),
        _serial=True,
    )
    return plaintext


def _tls_files(spec: HostSpec) -> OperationMeta | None:
    """The host's key and certificate (one PEM file: Kafka's keystore) and the CA certificate
    for the listeners; None under kafka.security plaintext. A new certificate (renewal,
    other names) restarts the broker: Kafka reads the keystore at start."""
    client = kafka_clients.admin_client(spec.kafka)
    java = kafka_clients.admin_properties(spec.kafka)
    header = "managed by Timestack: on-host administration's client configuration"
    for name, dest, text in (
        ("Admin client configuration (librdkafka)", kafka_clients.ADMIN_CLIENT,
         json.dumps(client, indent=2, sort_keys=True) + "\n"),
        ("Admin client configuration (the release's tools)", kafka_clients.ADMIN_PROPERTIES,
         kafka_clients.properties_text(java, header)),
    ):  # fmt: skip
        managed_files.put(name=name, dest=dest, src=StringIO(text), user="root", mode="0600")
    if not kafka_clients.secured(spec.kafka):
        return None
    credentials = pki.host_credentials(spec)
    managed_files.directory(
        name="TLS directory", path=kafka_clients.TLS_DIR, user="root", group=config.USER,
        mode="0750",
    )  # fmt: skip
    managed_files.put(
        name="CA certificate",
        dest=kafka_clients.CA_CERT,
        src=BytesIO(credentials.ca_cert),
        user="root",
        group=config.USER,
        mode="0644",
    )
    return managed_files.put(
        name="Host key and certificate (keystore)",
        dest=kafka_clients.KEYSTORE,
        src=BytesIO(credentials.key + credentials.cert),
        user=config.USER,
        group=config.USER,
        mode="0600",
        secret=True,
    )


@dataclass(frozen=True)
class _Agent:
    option: str  # KAFKA_OPTS of the unit: the -javaagent option, or "" (not monitored)
    jar: OperationMeta | None  # the cached jar; a changed one restarts the broker


def _jmx_agent(spec: HostSpec, agent: Archive | None) -> _Agent:
    """The JMX exporter's jar in the archive cache (checksum verified like the release) and
    its rules; the unit loads it. Its rules are re-read by the agent: no restart for them."""
    if agent is None:
        managed_files.absent(name="No JMX exporter rules", path=config.JMX_EXPORTER_CONFIG)
        return _Agent("", None)
    managed_files.put(
        name="JMX exporter rules",
        dest=config.JMX_EXPORTER_CONFIG,
        src=rendered_file("kafka/jmx-exporter.yml.j2"),
        user="root",
        group=config.USER,
        mode="0640",
    )
    jar = operations.archive_in_cache(name="JMX exporter agent, checksum verified", archive=agent)
    address = monitoring_address(spec)
    return _Agent(
        config.jmx_agent_option(agent.cached_path, address, spec.kafka.jmx_exporter.port), jar
    )


def _directory(name: str, path: str, owner: str) -> None:
    managed_files.directory(name=name, path=path, user=owner, group=config.USER, mode="0750")
