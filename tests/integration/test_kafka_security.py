"""Kafka's secured listeners on the lab's three brokers (or TIMESTACK_KAFKA_TARGET: see
tests/integration/kafka_lab.py): a client without credentials can do nothing, a declared
principal writes its own topics only, a principal removed from host data loses its
credential and ACLs, and a second deploy changes nothing.

Clients run inside the first broker container (Debian's librdkafka, on the lab network);
their settings, passwords included, reach them in root-only files on stdin, never argv.
The extra principal of these tests gets its password through pyinfra's environment.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from roles import kafka_clients
from tests.integration.ingest_lab import REJECTS
from tests.integration.kafka_lab import (
    DEPLOY,
    GROUP_TOPICS,
    LAB_CLIENT,
    ONLY_BROKERS,
    TARGET_ENV,
    Brokers,
    admin_args,
    client_config,
    on,
    target,
    variant,
)
from tests.integration.lab_access import db_sql
from tests.integration.pyinfra_run import DeployRun, dry_run, run_pyinfra

ACCESS_OP = f"{DEPLOY} | Principals and ACLs as declared"
PRODUCER = "timestack-test-producer"
PRODUCER_ENV = "TIMESTACK_TEST_KAFKA_PRODUCER_PASSWORD"
ALLOWED, OTHER = "factory-metrics", "vehicle-telemetry"
SCRATCH = "timestack-test-anonymous"
# Seconds each attempt of a client that should be refused waits: it may learn nothing but a
# timeout, and a longer wait proves no more.
REFUSED = 5.0

# Runs in the container: with the given librdkafka settings, list, create, delete a topic
# and produce one message, side by side; prints what each attempt gave (None: it worked). Each
# attempt waits at most `patience` seconds: a refused client often learns nothing but a timeout.
CLIENT = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
settings = json.load(open(sys.argv[1])) if sys.argv[1] != "-" else {}
bootstrap, topic, scratch, patience = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
wait_ms = int(patience * 1000)
base = {**settings, "bootstrap.servers": bootstrap, "log_level": 0}
def attempt(action):
    try:
        action()
    except Exception as error:
        return str(error)
    return None
def listed():
    admin = AdminClient({**base, "socket.timeout.ms": min(wait_ms, 5000)})
    topics = admin.list_topics(timeout=patience).topics
    if topic not in topics:
        raise RuntimeError(f"{topic} not listed ({sorted(topics)})")
def created():
    admin = AdminClient(base)  # held until the answer: a dropped handle cancels its request
    admin.create_topics([NewTopic(scratch, 1, 1)], request_timeout=patience)[scratch].result(
        patience + 1)
def deleted():
    admin = AdminClient(base)
    admin.delete_topics([topic], request_timeout=patience)[topic].result(patience + 1)
def produce():
    errors = []
    producer = Producer({**base, "acks": "all", "message.timeout.ms": wait_ms})
    producer.produce(topic, b"security-test", key=b"timestack-security-test",
                     on_delivery=lambda e, m: errors.append(e))
    producer.flush(patience + 5)
    if not errors or errors[0] is not None:
        raise RuntimeError(str(errors[0]) if errors else "no delivery report")
actions = {"list": listed, "create": created, "delete": deleted, "produce": produce}
with ThreadPoolExecutor(len(actions)) as pool:
    print(json.dumps(dict(zip(actions, pool.map(attempt, actions.values())))))
"""


@pytest.fixture(scope="module")
def brokers(request: pytest.FixtureRequest) -> Brokers:
    if not os.environ.get(TARGET_ENV):
        request.getfixturevalue("first_deploy")
    return target()


# The lab's writers consume ALLOWED and OTHER: what a produce attempt wrote is kept as a
# reject (not JSON). Counted here, removed when the module ends, so that the verify suite's
# "no recent rejects" holds after these tests.
REJECT_KEY = "timestack-security-test"
_produced: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def rejects_removed() -> Iterator[None]:
    yield
    if not _produced or os.environ.get(TARGET_ENV):
        return
    where = f"{REJECTS} WHERE convert_from(key, 'UTF8') = '{REJECT_KEY}'"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if int(db_sql(f"SELECT count(*) FROM {where}", "telemetry") or 0) >= len(_produced):
            break
        time.sleep(2)
    db_sql(f"DELETE FROM {where}", "telemetry")


def client(
    brokers: Brokers, settings_path: str, topic: str, bootstrap: str = "", patience: float = 15
) -> Any:
    """CLIENT in the first broker container; what each attempt gave."""
    first = brokers.containers[0]
    # Written whole, then renamed: clients may start side by side.
    on(first, "sh", "-c", f"cat > {_SCRIPT}.$$ && mv {_SCRIPT}.$$ {_SCRIPT}", stdin=CLIENT)
    output = on(first, "python3", _SCRIPT, settings_path, bootstrap or brokers.bootstrap,
                topic, SCRATCH, str(patience))  # fmt: skip
    got: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    if got.get("produce") is None:
        _produced.append(topic)
    return got


_SCRIPT = "/srv/timestack-kafka-client/security_client.py"


def kafka_changes(run: DeployRun) -> dict[str, int]:
    return {name: n for name, n in run.changed.items() if name.startswith(DEPLOY)}


def test_a_client_without_credentials_can_do_nothing(brokers: Brokers) -> None:
    first = brokers.containers[0]
    client_config(first)  # the directory and the script's home
    tls_only = "/srv/timestack-kafka-client/tls-only.json"
    on(first, "sh", "-c", f"umask 077 && cat > {tls_only}",
       stdin=json.dumps({"security.protocol": "SSL",
                         "ssl.ca.location": kafka_clients.CA_CERT}))  # fmt: skip
    attempts = {
        "plaintext on the client listener": ("-", brokers.bootstrap),
        "plaintext on the internal listener": ("-", brokers.internal_bootstrap),
        "TLS without credentials on the client listener": (tls_only, brokers.bootstrap),
        "TLS without credentials on the internal listener": (tls_only, brokers.internal_bootstrap),
    }
    # Side by side: a refused client mostly waits out its timeouts.
    with ThreadPoolExecutor(len(attempts)) as pool:
        futures = {
            label: pool.submit(client, brokers, settings, OTHER, bootstrap, REFUSED)
            for label, (settings, bootstrap) in attempts.items()
        }
        answers = {label: future.result() for label, future in futures.items()}
    for label, got in answers.items():
        assert all(got.values()), f"{label}: {got}"
    topics = on(first, "python3", "/usr/local/lib/timestack/kafka_admin.py", "describe",
                *admin_args(first))  # fmt: skip
    assert OTHER in json.loads(topics)["topics"], "the topic an anonymous client tried to delete"


def test_a_wrong_password_is_refused(brokers: Brokers) -> None:
    path = client_config(brokers.containers[0], LAB_CLIENT, "not-the-password", "wrong.json")
    got = client(brokers, path, OTHER, patience=REFUSED)
    assert got["list"] and got["produce"], got


def test_the_lab_client_lists_and_writes_its_topics_but_creates_and_deletes_nothing(
    brokers: Brokers,
) -> None:
    got = client(brokers, client_config(brokers.containers[0]), OTHER)
    assert got["list"] is None and got["produce"] is None, got
    assert got["create"] and "authoriz" in got["create"].lower(), got
    assert got["delete"] and "authoriz" in got["delete"].lower(), got


@pytest.fixture
def producer_password() -> Iterator[str]:
    password = secrets.token_urlsafe(24)
    yield password


def with_producer(brokers: Brokers) -> Any:
    """The target's brokers with one more principal: it may write ALLOWED only."""
    lab = {"name": LAB_CLIENT, "password_env": "TIMESTACK_KAFKA_LAB_CLIENT_PASSWORD",
           "produce": [t["name"] for t in GROUP_TOPICS] + ["timestack-test-*"],
           "consume": [t["name"] for t in GROUP_TOPICS] + ["timestack-test-*"],
           "groups": ["timestack-test-*", "timestack-ingest"]}  # fmt: skip
    producer = {"name": PRODUCER, "password_env": PRODUCER_ENV, "produce": [ALLOWED]}
    return variant(brokers, "principal", {"kafka": {"principals": [lab, producer]}})


def test_a_declared_producer_writes_its_topics_only_and_leaves_with_its_acls(
    brokers: Brokers, producer_password: str
) -> None:
    env = {PRODUCER_ENV: producer_password}
    first = brokers.containers[0]
    try:
        with with_producer(brokers) as path:
            os.environ[PRODUCER_ENV] = producer_password  # --dry validates the variable too
            predicted = dry_run(path, "deploy.py", *ONLY_BROKERS)
            assert predicted.returncode == 0, predicted.output[-3000:]
            assert kafka_changes(predicted) == {ACCESS_OP: 1}, kafka_changes(predicted)
            added = run_pyinfra(path, "deploy.py", *ONLY_BROKERS, env=env)
            assert added.returncode == 0, added.output[-4000:]
            assert kafka_changes(added) == {ACCESS_OP: 1}
            assert producer_password not in added.output
            again = run_pyinfra(path, "deploy.py", *ONLY_BROKERS, env=env)
            assert again.returncode == 0, again.output[-4000:]
            assert kafka_changes(again) == {}, "a second deploy changed Kafka"
        settings = client_config(first, PRODUCER, producer_password, "producer.json")
        allowed = client(brokers, settings, ALLOWED)
        assert allowed["produce"] is None, allowed
        other = client(brokers, settings, OTHER)
        assert other["produce"] and "authoriz" in other["produce"].lower(), other
    finally:
        os.environ.pop(PRODUCER_ENV, None)
        removed = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
    assert removed.returncode == 0, removed.output[-4000:]
    assert kafka_changes(removed) == {ACCESS_OP: 1}
    users = on(first, "/opt/kafka/bin/kafka-configs.sh", "--bootstrap-server",
               f"{first}:9094", "--command-config", kafka_clients.ADMIN_PROPERTIES,
               "--describe", "--entity-type", "users")  # fmt: skip
    assert f"'{PRODUCER}'" not in users, users
    acls = on(first, "/opt/kafka/bin/kafka-acls.sh", "--bootstrap-server", f"{first}:9094",
              "--command-config", kafka_clients.ADMIN_PROPERTIES, "--list")  # fmt: skip
    assert f"User:{PRODUCER}" not in acls, acls
    gone = client(brokers, settings, ALLOWED, patience=REFUSED)
    assert gone["produce"], f"{PRODUCER} still writes after its removal: {gone}"


def test_second_deploy_changes_no_kafka_operation(brokers: Brokers) -> None:
    second = run_pyinfra(brokers.inventory)
    assert second.returncode == 0, second.output[-4000:]
    assert kafka_changes(second) == {}
