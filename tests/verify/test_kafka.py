"""Checks for Kafka (group kafka), read-only: nothing here writes to the cluster.

Cluster and topic checks run the admin tool the role installs (roles/kafka/admin_tool.py)
on each broker: Debian's python3-confluent-kafka for metadata and topics, the release's
kafka-metadata-quorum.sh for the KRaft quorum.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from roles import hardware, kafka_clients
from roles.colocation import kafka_heap_bytes
from roles.kafka import admin_tool, config, features, principals, wanted_principals
from roles.kafka.cluster import Broker, brokers, cluster_id, manages_topics
from roles.kafka.facts import KafkaAccess
from roles.kafka.topics import differences, parse_described
from tests.verify.targets import load_targets

pytestmark = pytest.mark.group("kafka")


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> list[Broker]:
    """Every broker of the inventory: server.properties depends on all of them."""
    targets = load_targets(request.config.getoption("--inventory"))
    return brokers(target.spec for target in targets)


def admin(host: Any, spec: Any, *args: str) -> Any:
    command = " ".join(
        shlex.quote(part)
        for part in (
            "python3",
            config.ADMIN_SCRIPT,
            *args,
            "--bootstrap",
            config.bootstrap(spec),
            "--client-config",
            kafka_clients.ADMIN_CLIENT,
            "--command-config",
            kafka_clients.ADMIN_PROPERTIES,
        )
    )
    return host.run(command)


def test_java_runtime_and_admin_client_installed(host: Any, spec: Any) -> None:
    wanted = config.packages(spec.kafka, host.system_info.codename or "")
    missing = [p for p in wanted if not host.package(p).is_installed]
    assert not missing, f"packages not installed: {missing}"


def test_service_active_and_enabled(host: Any) -> None:
    service = host.service(config.UNIT)
    assert service.is_running, f"{config.UNIT} is not running"
    assert service.is_enabled, f"{config.UNIT} is not enabled"


def test_broker_port_listening(host: Any, spec: Any) -> None:
    port = spec.kafka.port
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert listening, f"nothing listens on port {port}"


def test_release_behind_the_stable_symlink(host: Any, spec: Any) -> None:
    link = host.file(config.home(spec.kafka))
    assert link.is_symlink, f"{config.home(spec.kafka)} is not a symlink"
    assert link.linked_to == config.release_dir(spec.kafka)
    marker = host.file(f"{config.release_dir(spec.kafka)}/{config.INSTALLED_MARKER}")
    assert marker.exists, "the release was not unpacked by Timestack (no archive checksum)"


def test_server_properties_as_specified(host: Any, spec: Any, cluster: list[Broker]) -> None:
    actual = config.parse_properties(host.file(config.SERVER_PROPERTIES).content_string)
    wanted = config.as_dict(config.server_properties(spec, cluster))
    wrong = {
        key: f"expected {value}, actual {actual.get(key, 'absent')}"
        for key, value in wanted.items()
        if actual.get(key) != value
    }
    assert not wrong, f"{config.SERVER_PROPERTIES} differs: {wrong}"


def test_storage_formatted_for_this_cluster(host: Any, spec: Any, cluster: list[Broker]) -> None:
    storage = config.storage(spec, cluster)
    assert storage.cluster_id == cluster_id(spec, cluster)
    for directory in spec.kafka.data_dirs:
        meta = config.parse_properties(host.file(f"{directory}/meta.properties").content_string)
        assert (meta.get("cluster.id"), meta.get("node.id")) == (
            storage.cluster_id,
            str(storage.node_id),
        ), f"{directory}/meta.properties: {meta}"


def test_unit_restarts_on_failure_with_limits_and_heap(host: Any, spec: Any) -> None:
    shown = host.check_output(
        f"systemctl show {config.UNIT} --property Restart --property LimitNOFILE "
        "--property Environment --property User"
    )
    values = dict(line.split("=", 1) for line in shown.splitlines())
    detected = hardware.parse(
        host.check_output(hardware.command(spec.kafka.data_dirs[0])).splitlines()
    )
    heap = config.heap_options(kafka_heap_bytes(detected.memory_bytes, spec.kafka.heap))
    assert values["Restart"] == "on-failure"
    assert values["LimitNOFILE"] == str(spec.kafka.nofile)
    assert values["User"] == config.USER
    assert f"KAFKA_HEAP_OPTS={heap}" in values["Environment"], values["Environment"]


def test_declared_topics_present_with_partitions_and_configs(host: Any, spec: Any) -> None:
    result = admin(host, spec, "describe")
    assert result.rc == 0, result.stderr
    described = parse_described(result.stdout)
    assert described.status == "ok", f"the admin tool says {described.status}: {described.error}"
    differ = differences(described.topics, spec.kafka.topics)
    assert not differ, f"topics differ from host data (a deploy would: {differ})"


_states: dict[int, dict[str, Any]] = {}


def _state(host: Any, spec: Any) -> dict[str, Any]:
    """Registered brokers, partitions and the quorum as this broker sees them (read once per
    host: the quorum is read with a JVM)."""
    if id(host) not in _states:
        result = admin(host, spec, "state", "--kafka-home", config.home(spec.kafka))
        assert result.rc == 0, result.stderr
        _states[id(host)] = json.loads(result.stdout)
    state = _states[id(host)]
    assert "error" not in state, state["error"]
    return state


def test_every_broker_registered(host: Any, spec: Any, cluster: list[Broker]) -> None:
    expected = sorted(broker.node_id for broker in cluster)
    assert _state(host, spec)["brokers"] == expected, "registered brokers differ from group kafka"


def test_every_broker_a_voter_and_this_one_caught_up(
    host: Any, spec: Any, cluster: list[Broker]
) -> None:
    state = _state(host, spec)
    me = config.storage(spec, cluster).node_id
    voters = [broker.node_id for broker in cluster]
    quorum = [p for p in admin_tool.health_problems(state, me, voters) if "partitions" not in p]
    assert not quorum, f"quorum {state['quorum']}: {quorum}"


def test_no_under_replicated_or_offline_partitions(host: Any, spec: Any) -> None:
    state = _state(host, spec)
    assert state["under_replicated"] == [], f"under-replicated: {state['under_replicated']}"
    assert state["offline"] == [], f"offline: {state['offline']}"


def test_feature_levels_finalized_to_the_running_release(
    host: Any, spec: Any, cluster: list[Broker]
) -> None:
    """On the first broker (two JVM starts: the release's kafka-features.sh version-mapping
    and describe): metadata.version and the other features at the running release's levels,
    kraft.version 0 (the static quorum of controller.quorum.voters). With
    kafka.finalize_features false the levels are reported, not required."""
    if not manages_topics(spec, cluster):
        pytest.skip("feature levels are cluster-wide; checked on the first broker")
    held = ",".join(features.HELD)
    result = admin(host, spec, "features", "--kafka-home", config.home(spec.kafka), "--hold", held)
    assert result.rc == 0, result.stderr[-1000:]
    answer = json.loads(result.stdout)
    finalized, release = answer["finalized"]["metadata.version"], answer["wanted_metadata"]
    report = f"finalized metadata.version {finalized}, running release's {release}"
    print(f"{spec.name}: {report}; finalized {answer['finalized']}")
    assert answer["held"] == {"kraft.version": "0"}, f"the quorum is no longer static: {answer}"
    if not spec.kafka.finalize_features:
        pytest.skip(f"kafka.finalize_features is false: {report}")
    assert finalized == release, f"{report}: a deploy finalizes it ({answer['below']})"
    assert answer["below"] == {}, f"features below the release's levels: {answer['below']}"


def test_feature_record_names_the_running_release_line(host: Any, spec: Any) -> None:
    """The record a deploy refuses a downgrade by (roles/kafka/features.py) is this release's."""
    if not spec.kafka.finalize_features:
        pytest.skip("kafka.finalize_features is false: the record names the held levels")
    record = features.parse_record(host.run(f"cat {features.RECORD}").stdout)
    line = features.release_line(spec.kafka.version)
    assert record == line, f"{features.RECORD} names {record}, the release's line is {line}"


# ---------------------------------------------------------------------------------------
# Security (kafka.security sasl_ssl): read-only, no application password needed.

MONTH = 30 * 24 * 3600


def _secured(spec: Any) -> None:
    if not kafka_clients.secured(spec.kafka):
        pytest.skip("kafka.security is plaintext on this host: no TLS listeners to check")


def _listener_ports(spec: Any) -> dict[str, int]:
    kafka = spec.kafka
    return {"client": kafka.port, "internal": kafka.internal_port,
            "controller": kafka.controller_port}  # fmt: skip


def test_no_plaintext_listener_in_the_deployed_configuration(host: Any, spec: Any) -> None:
    """None at all, or during a migration exactly the declared ones (printed)."""
    _secured(spec)
    actual = config.parse_properties(host.file(config.SERVER_PROPERTIES).content_string)
    plain, migration = config.plaintext_ports(actual), spec.kafka.plaintext_migration
    declared = set() if migration is None else migration.ports
    if declared:
        print(f"{spec.name}: PLAINTEXT kept open for the migration on {sorted(declared)}")
    assert plain == declared, (
        f"PLAINTEXT listeners on {sorted(plain)} in {config.SERVER_PROPERTIES}; declared "
        f"(kafka.plaintext_migration): {sorted(declared)}"
    )
    assert actual.get("allow.everyone.if.no.acl.found") == "false", actual
    assert actual.get("authorizer.class.name") == config.AUTHORIZER, actual


def test_key_and_client_configuration_files_are_private(host: Any, spec: Any) -> None:
    _secured(spec)
    wanted = {
        kafka_clients.KEYSTORE: (config.USER, 0o600),
        kafka_clients.ADMIN_CLIENT: ("root", 0o600),
        kafka_clients.ADMIN_PROPERTIES: ("root", 0o600),
        kafka_clients.CA_CERT: ("root", 0o644),
    }
    wrong = {}
    for path, (user, mode) in wanted.items():
        found = host.file(path)
        if not found.exists:
            wrong[path] = "missing"
        elif (found.user, found.mode) != (user, mode):
            wrong[path] = f"{found.user} {found.mode:o}, expected {user} {mode:o}"
    assert not wrong, wrong


# A client with no credentials: plaintext on every listener, then TLS without a certificate
# on the ones that require one. Each must fail to list topics. A refused client mostly learns
# nothing but its timeout, so the attempts wait side by side.
ANONYMOUS = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from confluent_kafka.admin import AdminClient
address, ca, ports = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tries = {}
for name, port in ports.items():
    tries[f"{name} ({port}) plaintext"] = (port, {})
    if name != "client":
        tries[f"{name} ({port}) TLS without a certificate"] = (
            port, {"security.protocol": "SSL", "ssl.ca.location": ca})
def listed(attempt):
    port, extra = attempt
    client = AdminClient({"bootstrap.servers": f"{address}:{port}", "log_level": 0, **extra})
    try:
        return sorted(client.list_topics(timeout=5).topics)
    except Exception:
        return None
with ThreadPoolExecutor(len(tries)) as pool:
    got = dict(zip(tries, pool.map(listed, tries.values())))
print(json.dumps({attempt: topics for attempt, topics in got.items() if topics is not None}))
"""


def test_a_client_without_credentials_is_refused_on_every_listener(host: Any, spec: Any) -> None:
    _secured(spec)
    address = kafka_clients.broker_address(spec)
    ports = json.dumps(_listener_ports(spec))
    parts = ("python3", "-c", ANONYMOUS, address, kafka_clients.CA_CERT, ports)
    result = host.run(" ".join(shlex.quote(part) for part in parts))
    assert result.rc == 0, result.stderr
    answered = json.loads(result.stdout)
    assert not answered, f"listeners that answered a client without credentials: {answered}"


def test_every_listener_shows_a_ca_issued_certificate_for_this_host(host: Any, spec: Any) -> None:
    _secured(spec)
    address = kafka_clients.broker_address(spec)
    problems = {}
    for name, port in _listener_ports(spec).items():
        shown = host.run(
            f"openssl s_client -connect {shlex.quote(f'{address}:{port}')} "
            f"-servername {shlex.quote(address)} -CAfile {kafka_clients.CA_CERT} "
            "-verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -issuer "
            f"-ext subjectAltName -checkend {MONTH}"
        )
        text = shown.stdout
        if shown.rc != 0:
            problems[name] = f"no verified certificate valid for 30 more days ({text.strip()})"
        elif f"DNS:{address}" not in text and f"IP Address:{address}" not in text:
            problems[name] = f"{address} is not among its names ({text.strip()})"
    assert not problems, problems


def test_principals_and_acls_as_declared(
    host: Any, spec: Any, cluster: list[Broker], inventory_specs: dict[str, Any]
) -> None:
    """On the broker that reconciles them (two JVM starts): every declared and derived
    principal has its SCRAM credential and exactly its ACLs. Passwords are not needed."""
    _secured(spec)
    if not manages_topics(spec, cluster):
        pytest.skip("principals are reconciled from the first broker; checked there")
    command = KafkaAccess().command(
        config.bootstrap(spec), config.home(spec.kafka), spec.kafka.log_dir
    )
    result = host.run(command)
    access = principals.parse_access(result.stdout.splitlines())
    assert access.status == "ok", access.error or result.stdout[-500:]
    differ = principals.differences(access, wanted_principals(spec, inventory_specs))
    assert not differ, f"principals and ACLs differ from host data (a deploy would: {differ})"
