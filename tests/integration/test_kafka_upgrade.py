"""A running PLAINTEXT cluster moved to SASL_SSL, then a Kafka release upgrade, 4.3.1 → the
role's default (4.4.0), each by a deploy and neither losing an acknowledged record.

On the lab's three broker containers (no new containers): the brokers are stopped, their
KRaft data and Timestack's Kafka records (principals' applied.state and fingerprints, the
feature record) removed, and a variant formats a fresh 4.3.1 cluster as every cluster
deployed before security existed was: kafka.security plaintext, here on ports 9096 (clients)
and 9097 (controllers), with one broker setting of its own (log.cleaner.threads=2).

1. Migration (roles/kafka/migration.py): a variant with kafka.plaintext_migration {9096,
   9097} and the lab's secured listeners (9092, 9093, 9094) is deployed while a producer
   (acks=all, idempotent, tests/integration/kafka_stream.py) writes over PLAINTEXT: `--dry`
   predicts both rolls, a watcher samples every broker's JVM (never two out at once), the
   records are then read back as the lab's SCRAM principal over SASL_SSL, the ingest writers
   have moved to SASL_SSL on their own, and a second deploy changes nothing.
2. The lab's inventory (PLAINTEXT closed, release 4.4.0, the setting gone) is deployed with a
   producer on SASL_SSL running: one roll, the feature levels finalized to 4.4's with
   kraft.version still 0 (static quorum); then the last broker is killed with SIGKILL and
   started again; 0 acknowledged records lost. No PLAINTEXT listener is left.
3. A downgrade to 4.3.1 is refused with its reason and nothing changed, and a second deploy
   changes nothing. The cluster ends as the lab's normal 4.4.0 cluster; the ingest writers
   rejoin it with their recreated credential.

    pytest tests/integration/test_kafka_upgrade.py -s        # on the lab, about 14 minutes
    TIMESTACK_KAFKA_TARGET=inventory/_mine.py:b1,b2,b3 pytest ...   # on brokers of your own
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.kafka_release import ensure_kafka_archive
from ops.version_facts import KAFKA_JAR
from roles import kafka_clients
from roles.ingest import config as ingest_config
from roles.kafka import config, features, principals
from roles.spec import IngestSpec, KafkaSpec
from tests.integration.kafka_lab import (
    CLIENT_DIR,
    DEPLOY,
    ONLY_BROKERS,
    PROPERTIES_OP,
    RESTART_OP,
    TARGET_ENV,
    Brokers,
    admin_args,
    client_config,
    cluster_state,
    kill_and_start,
    on,
    target,
    variant,
)
from tests.integration.pyinfra_run import dry_run, run_pyinfra

SCRIPT = Path(__file__).with_name("kafka_stream.py")
WORK = "/srv/timestack-kafka-stream"  # not /tmp: trixie's systemd mounts a tmpfs there
TOPIC = "timestack-test-no-loss"
MIGRATION_TOPIC = "timestack-test-migration"  # the stream written over PLAINTEXT

OLD = "4.3.1"
NEW: str = KafkaSpec.model_fields["version"].default
FEATURES_OP = f"{DEPLOY} | Feature levels finalized to the release's (kraft.version held)"
STORAGE_OP = f"{DEPLOY} | Storage formatted once for this cluster"
DATA = "/var/lib/kafka/data"  # the lab's kafka.data_dirs (the default)
RATE = 200
OLD_SETTING = "log.cleaner.threads=2"  # the old cluster's own: its roll is also a setting's
PLAINTEXT_PORTS = {"port": 9096, "controller_port": 9097}  # the old cluster's listeners
OPEN_PROPERTIES_OP = (
    f"{DEPLOY} | server.properties: TLS listeners beside PLAINTEXT (migration, roll 1 of 2)"
)
OPEN_RESTART_OP = f"{DEPLOY} | Rolling restart: TLS listeners opened (Kafka still talks PLAINTEXT)"
ACCESS_OP = f"{DEPLOY} | Principals and ACLs as declared"


@pytest.fixture(scope="module")
def brokers(request: pytest.FixtureRequest) -> Brokers:
    if not os.environ.get(TARGET_ENV):
        request.getfixturevalue("first_deploy")
    return target()


def stream(brokers: Brokers, command: str, *args: str, topic: str = TOPIC) -> list[str]:
    """The stream as the lab's test principal on the client listener (SASL_SSL), its topic
    created and deleted with the broker host's certificate on the internal listener."""
    return [
        "docker", "exec", brokers.containers[0], "python3", f"{WORK}/kafka_stream.py", command,
        "--bootstrap", brokers.bootstrap, "--topic", topic, "--dir", f"{WORK}/{topic}",
        "--client-config", f"{CLIENT_DIR}/client.json",
        "--admin-config", kafka_clients.ADMIN_CLIENT,
        "--admin-bootstrap", brokers.internal_bootstrap, *args,
    ]  # fmt: skip


def plaintext_stream(brokers: Brokers, command: str, *args: str) -> list[str]:
    """An application not moved yet: no credentials, the old PLAINTEXT listener."""
    bootstrap = ",".join(f"{name}:{PLAINTEXT_PORTS['port']}" for name in brokers.containers)
    return [
        "docker", "exec", brokers.containers[0], "python3", f"{WORK}/kafka_stream.py", command,
        "--bootstrap", bootstrap, "--topic", MIGRATION_TOPIC,
        "--dir", f"{WORK}/{MIGRATION_TOPIC}", *args,
    ]  # fmt: skip


def producing(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stopped(container: str, producer: subprocess.Popen[str], topic: str) -> dict[str, Any]:
    """Stop the producer (its stop file) and return its summary ({} if it failed)."""
    on(container, "touch", f"{WORK}/{topic}/stop")
    try:
        out, err = producer.communicate(timeout=420)
    finally:
        if producer.poll() is None:
            producer.kill()
    assert producer.returncode == 0, err[-2000:]
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def read_back(brokers: Brokers, topic: str) -> dict[str, Any]:
    """Every record of `topic`, read as the lab's SCRAM principal over SASL_SSL."""
    done = subprocess.run(stream(brokers, "consume", topic=topic), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def assert_nothing_lost(produced: dict[str, Any], read: dict[str, Any], seconds: int) -> None:
    counts = {**produced, **read}
    assert read["complete"] and read["lost"] == 0, counts
    assert (produced["failed"], produced["unsent"]) == (0, 0), counts
    assert produced["acknowledged"] == produced["produced"] > RATE * seconds, counts
    assert read["distinct"] == produced["acknowledged"], counts


def release_of_jvm(container: str) -> tuple[int, str | None]:
    """(MainPID of kafka.service, the release whose broker jar its classpath names, or None).
    The command line, not /proc/PID/fd: root in the lab's containers may not read another
    user's file descriptors."""
    script = (
        "pid=$(systemctl show -p MainPID --value kafka.service); echo $pid; "
        '[ "$pid" != 0 ] && tr "\\0:" "\\n\\n" < /proc/$pid/cmdline 2>/dev/null '
        f"| grep -o '{KAFKA_JAR}' | head -1; true"
    )
    lines = on(container, "sh", "-c", script).split()
    return int(lines[0]), (lines[1].removesuffix(".jar") if len(lines) > 1 else None)


class Watcher(threading.Thread):
    """Samples every broker's JVM twice a second while a deploy runs."""

    def __init__(self, containers: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.containers, self.samples = containers, list[dict[str, tuple[int, str | None]]]()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append({c: release_of_jvm(c) for c in self.containers})
            time.sleep(0.5)

    def out_at_once(self) -> int:
        """The most brokers seen without a running JVM on its jars in one sample."""
        return max(
            sum(1 for pid, rel in s.values() if not pid or rel is None) for s in self.samples
        )

    def switch_order(self, release: str) -> list[str]:
        """The brokers seen running `release`, in the order their JVM first ran it."""
        first: dict[str, int] = {}
        for number, sample in enumerate(self.samples):
            for container, (_pid, running) in sample.items():
                if running == release:
                    first.setdefault(container, number)
        return sorted(first, key=first.__getitem__)


def feature_levels(container: str) -> dict[str, Any]:
    """The admin tool's view: the finalized levels against the installed release's."""
    hold = ",".join(features.HELD)
    args = ("features", *admin_args(container), "--kafka-home", "/opt/kafka", "--hold", hold)
    answer: dict[str, Any] = json.loads(on(container, "python3", config.ADMIN_SCRIPT, *args))
    return answer


def wipe(brokers: Brokers) -> None:
    """Every broker stopped first, then its KRaft data, Timestack's Kafka records and its
    server.properties gone: a fresh host's, whichever listeners the next deploy wants."""
    for container in brokers.containers:
        on(container, "systemctl", "stop", "kafka.service")
    for container in brokers.containers:
        on(container, "sh", "-c", f"rm -rf {DATA}/* {principals.RECORDS_DIR} {features.RECORD} "
           f"{config.SERVER_PROPERTIES}")  # fmt: skip


def kafka_changes(run: Any) -> dict[str, int]:
    return {name: n for name, n in run.changed.items() if name.startswith(DEPLOY)}


def old_release() -> dict[str, str]:
    return {"version": OLD, "archive": str(ensure_kafka_archive(OLD))}


@dataclass
class OldCluster:
    inventory: Path  # the variant that deployed it
    converged: bool = False  # the test's last deploy of the target changed nothing


@pytest.fixture
def old_cluster(brokers: Brokers) -> Iterator[OldCluster]:
    """A fresh 4.3.1 PLAINTEXT cluster on the brokers; the target inventory deployed again
    afterwards unless the test's own last deploy converged (the lab's normal cluster:
    formatted anew if the test stopped early)."""
    setting, value = OLD_SETTING.split("=")
    overrides = {"kafka": {**old_release(), "settings": {setting: value}, "security": "plaintext",
                           "principals": [], **PLAINTEXT_PORTS}}  # fmt: skip
    with variant(brokers, "upgrade_old", overrides) as path:
        old = OldCluster(path)
        wipe(brokers)
        try:
            fresh = run_pyinfra(path, "deploy.py", *ONLY_BROKERS)
            assert fresh.returncode == 0, fresh.output[-4000:]
            assert kafka_changes(fresh).get(STORAGE_OP) == 3, fresh.changed
            # A wiped cluster is a new cluster (a new cluster id, no committed offsets): a
            # running consumer is not expected to follow that, so the writers start anew on it,
            # as after restoring a cluster. What the test asks of them is the upgrade's roll.
            for container in writer_hosts(brokers):
                on(container, "systemctl", "restart", ingest_config.UNIT)
            yield old
        finally:
            for topic in (TOPIC, MIGRATION_TOPIC):
                subprocess.run(stream(brokers, "delete", topic=topic), capture_output=True)
            if not old.converged:
                restored = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
                assert restored.returncode == 0, restored.output[-3000:]


def test_a_plaintext_cluster_moves_to_sasl_ssl_then_upgrades_losing_nothing(
    brokers: Brokers, old_cluster: OldCluster
) -> None:
    first = brokers.containers[0]
    on(first, "mkdir", "-p", *(f"{WORK}/{topic}" for topic in (TOPIC, MIGRATION_TOPIC)))
    on(first, "rm", "-f", *(f"{WORK}/{t}/{f}" for t in (TOPIC, MIGRATION_TOPIC)
                            for f in ("stop", "acked")))  # fmt: skip
    subprocess.run(["docker", "cp", str(SCRIPT), f"{first}:{WORK}/kafka_stream.py"], check=True)
    client_config(first)
    migrate(brokers, old_cluster)
    upgrade(brokers, old_cluster)


def migrate(brokers: Brokers, old_cluster: OldCluster) -> None:
    """1: PLAINTEXT → SASL_SSL with an application writing over PLAINTEXT throughout."""
    first = brokers.containers[0]
    setting, value = OLD_SETTING.split("=")
    overrides = {"kafka": {**old_release(), "settings": {setting: value},
                           "plaintext_migration": PLAINTEXT_PORTS}}  # fmt: skip
    with variant(brokers, "migrating", overrides) as migrating:
        dry = dry_run(migrating, "deploy.py", *ONLY_BROKERS)
        assert dry.returncode == 0, dry.output[-3000:]
        rolls = {OPEN_PROPERTIES_OP: 3, OPEN_RESTART_OP: 3, PROPERTIES_OP: 3, RESTART_OP: 3}
        assert {op: dry.changed.get(op) for op in rolls} == rolls, dry.changed
        assert dry.changed.get(ACCESS_OP) == 1, dry.changed

        producer = producing(plaintext_stream(brokers, "produce", "--rate", str(RATE)))
        watcher = Watcher(brokers.containers)
        try:
            time.sleep(5)
            watcher.start()
            migrated = run_pyinfra(migrating, "deploy.py", *ONLY_BROKERS)
            watcher.done.set()
            watcher.join()
            time.sleep(5)
        finally:
            produced = stopped(first, producer, MIGRATION_TOPIC)
        assert migrated.returncode == 0, migrated.output[-4000:]
        read = read_back(brokers, MIGRATION_TOPIC)
        print(f"\nmigration PLAINTEXT -> SASL_SSL: at most {watcher.out_at_once()} broker out "
              f"at once over {len(watcher.samples)} samples; stream over PLAINTEXT "
              f"{json.dumps({**produced, **read}, sort_keys=True)}")  # fmt: skip
        assert {op: migrated.changed.get(op) for op in rolls} == rolls, migrated.changed
        assert watcher.out_at_once() <= 1, watcher.samples
        assert_nothing_lost(produced, read, 30)
        for container in brokers.containers:
            deployed = config.parse_properties(on(container, "cat", config.SERVER_PROPERTIES))
            assert config.deployed_stage(deployed) == "migrating", deployed
            assert config.plaintext_ports(deployed) == set(PLAINTEXT_PORTS.values()), deployed
        assert writers_rejoined(brokers), "the ingest writers did not move to SASL_SSL"
        again = run_pyinfra(migrating, "deploy.py", *ONLY_BROKERS)
        assert again.returncode == 0, again.output[-3000:]
        assert again.changed == {}, again.changed


def upgrade(brokers: Brokers, old_cluster: OldCluster) -> None:
    """2 and 3: PLAINTEXT closed and 4.4.0 in one roll, under load; a downgrade refused."""
    first = brokers.containers[0]
    before = feature_levels(first)
    assert before["finalized"]["metadata.version"].startswith("4.3-"), before
    assert before["held"] == {"kraft.version": "0"}, before

    dry = dry_run(brokers.inventory, "deploy.py", *ONLY_BROKERS)
    assert dry.returncode == 0, dry.output[-3000:]
    rolled = {PROPERTIES_OP: 3, RESTART_OP: 3, FEATURES_OP: 3}
    assert {op: dry.changed.get(op) for op in rolled} == rolled, dry.changed

    producer = producing(stream(brokers, "produce", "--rate", str(RATE)))
    watcher = Watcher(brokers.containers)
    killed: dict[str, Any] = {}
    try:
        time.sleep(5)
        watcher.start()
        upgraded = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
        watcher.done.set()
        watcher.join()
        # Then the last broker dies the hard way (SIGKILL) and starts again, stream running.
        killed = kill_and_start(brokers.containers[2]) if upgraded.returncode == 0 else {}
        time.sleep(5)
    finally:
        produced = stopped(first, producer, TOPIC)
    assert upgraded.returncode == 0, upgraded.output[-4000:]
    read = read_back(brokers, TOPIC)
    after = feature_levels(first)
    order = watcher.switch_order(f"kafka_2.13-{NEW}")
    counts = {**produced, **read, "killed": killed}
    print(f"\nupgrade {OLD} -> {NEW}: brokers in order {order}, at most "
          f"{watcher.out_at_once()} out at once over {len(watcher.samples)} samples; "
          f"finalized {after['finalized']} (raised {after['raised'] or before['below']}); "
          f"stream {json.dumps(counts, sort_keys=True)}")  # fmt: skip

    assert {op: upgraded.changed.get(op) for op in rolled} == rolled, upgraded.changed
    assert watcher.out_at_once() <= 1, watcher.samples
    assert len(order) == 3
    assert after["finalized"]["metadata.version"] == after["wanted_metadata"], after
    assert after["below"] == {} and after["held"] == {"kraft.version": "0"}, after
    assert_nothing_lost(produced, read, 30)
    for container in brokers.containers:
        text = on(container, "cat", config.SERVER_PROPERTIES)
        assert OLD_SETTING not in text
        assert config.deployed_stage(config.parse_properties(text)) == "secured", text
    state = cluster_state(first)
    assert (state["under_replicated"], state["offline"]) == ([], []), state

    jvms = {c: release_of_jvm(c) for c in brokers.containers}
    with variant(brokers, "downgrade", {"kafka": old_release()}) as downgrade:
        refused = run_pyinfra(downgrade, "deploy.py", *ONLY_BROKERS)
    assert refused.returncode != 0
    line = features.line_text(features.release_line(NEW))
    assert f"kafka.version: got {OLD}; expected {line}.0 or later" in refused.output
    assert "nothing was changed" in refused.output
    assert refused.changed == {}, refused.changed
    assert {c: release_of_jvm(c) for c in brokers.containers} == jvms  # nobody restarted
    for container in brokers.containers:
        assert on(container, "readlink", "/opt/kafka").strip().endswith(f"-{NEW}"), container

    again = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed == {}, again.changed
    old_cluster.converged = True
    assert writers_rejoined(brokers), "the ingest writers did not rejoin the new cluster"


def writer_hosts(brokers: Brokers) -> list[str]:
    """The brokers that run an ingest writer (its unit enabled)."""
    return [c for c in brokers.containers
            if on(c, "sh", "-c", f"systemctl is-enabled {ingest_config.UNIT} || true").strip()
            == "enabled"]  # fmt: skip


def writers_rejoined(brokers: Brokers, within: float = 120) -> bool:
    """The writers' consumer group has members again (their principal was recreated with the
    same password; the writers retry on their own)."""
    group: str = IngestSpec.model_fields["group_id"].default
    first = brokers.containers[0]
    script = (
        "import json, sys\nfrom confluent_kafka.admin import AdminClient\n"
        "conf = json.load(open(sys.argv[1])); conf['bootstrap.servers'] = sys.argv[2]\n"
        "groups = AdminClient(conf).list_groups(sys.argv[3], timeout=15)\n"
        "print(sum(len(g.members) for g in groups))\n"
    )
    writers = writer_hosts(brokers)
    if not writers:
        return True  # no writers on these brokers (TIMESTACK_KAFKA_TARGET elsewhere)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        members = on(first, "python3", "-c", script, "/etc/kafka/admin-client.json",
                     f"{first}:9094", group)  # fmt: skip
        if int(members.strip() or 0) >= len(writers):
            return True
        time.sleep(5)
    return False
