"""A Kafka release upgrade, 4.3.1 → the role's default (4.4.0), by changing kafka.version.

On the lab's three broker containers (no new containers): the brokers are stopped, their
KRaft data and Timestack's Kafka records (principals' applied.state and fingerprints, the
feature record) removed, and a variant with kafka.version 4.3.1 (the lab's assembled 4.3.1
release, `python -m lab.kafka_release --version 4.3.1`) and one broker setting of its own
(log.cleaner.threads=2) formats a fresh 4.3.1 cluster; the role recreates the topics, SCRAM
users (same passwords) and ACLs. With a producer (acks=all,
idempotent) and then a consumer of tests/integration/kafka_stream.py, the target inventory
is deployed with ONLY_BROKERS: `--dry` predicts the roll and the finalization, the brokers
take the new release and the target's server.properties one at a time (a watcher samples
every broker's JVM: never two out at once; the roll for a changed setting is this one), the
feature levels are finalized to 4.4's with kraft.version still 0 (static quorum), then the
last broker is killed with SIGKILL and started again, and 0 acknowledged records are lost
through all of it (this is the suite's no-loss test: the roll under load is the upgrade's).
Then a downgrade to 4.3.1 is refused with its reason and nothing changed, and a second
deploy changes nothing. The
cluster ends as the lab's normal 4.4.0 cluster; the ingest writers rejoin it with their
recreated credential.

    pytest tests/integration/test_kafka_upgrade.py -s        # on the lab, about 10 minutes
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

OLD = "4.3.1"
NEW: str = KafkaSpec.model_fields["version"].default
FEATURES_OP = f"{DEPLOY} | Feature levels finalized to the release's (kraft.version held)"
STORAGE_OP = f"{DEPLOY} | Storage formatted once for this cluster"
DATA = "/var/lib/kafka/data"  # the lab's kafka.data_dirs (the default)
RATE = 200
OLD_SETTING = "log.cleaner.threads=2"  # the old cluster's own: its roll is also a setting's


@pytest.fixture(scope="module")
def brokers(request: pytest.FixtureRequest) -> Brokers:
    if not os.environ.get(TARGET_ENV):
        request.getfixturevalue("first_deploy")
    return target()


def stream(brokers: Brokers, command: str, *args: str) -> list[str]:
    """The stream as the lab's test principal on the client listener (SASL_SSL), its topic
    created and deleted with the broker host's certificate on the internal listener."""
    return [
        "docker", "exec", brokers.containers[0], "python3", f"{WORK}/kafka_stream.py", command,
        "--bootstrap", brokers.bootstrap, "--topic", TOPIC, "--dir", WORK,
        "--client-config", f"{CLIENT_DIR}/client.json",
        "--admin-config", kafka_clients.ADMIN_CLIENT,
        "--admin-bootstrap", brokers.internal_bootstrap, *args,
    ]  # fmt: skip


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
    """Every broker stopped first, then its KRaft data and Timestack's Kafka records gone."""
    for container in brokers.containers:
        on(container, "systemctl", "stop", "kafka.service")
    for container in brokers.containers:
        on(container, "sh", "-c", f"rm -rf {DATA}/* {principals.RECORDS_DIR} {features.RECORD}")


def kafka_changes(run: Any) -> dict[str, int]:
    return {name: n for name, n in run.changed.items() if name.startswith(DEPLOY)}


@dataclass
class OldCluster:
    inventory: Path  # the variant that deployed it
    converged: bool = False  # the test's last deploy of the target changed nothing


@pytest.fixture
def old_cluster(brokers: Brokers) -> Iterator[OldCluster]:
    """A fresh 4.3.1 cluster on the brokers; the target inventory deployed again afterwards
    unless the test's own last deploy converged (the lab's normal cluster: formatted anew if
    the test stopped early)."""
    archive = ensure_kafka_archive(OLD)
    setting, value = OLD_SETTING.split("=")
    overrides = {"kafka": {"version": OLD, "archive": str(archive), "settings": {setting: value}}}
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
            subprocess.run(stream(brokers, "delete"), capture_output=True, check=False)
            if not old.converged:
                restored = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
                assert restored.returncode == 0, restored.output[-3000:]


def test_release_upgrade_rolls_finalizes_loses_nothing_and_refuses_a_downgrade(
    brokers: Brokers, old_cluster: OldCluster
) -> None:
    first = brokers.containers[0]
    before = feature_levels(first)
    assert before["finalized"]["metadata.version"].startswith("4.3-"), before
    assert before["held"] == {"kraft.version": "0"}, before

    dry = dry_run(brokers.inventory, "deploy.py", *ONLY_BROKERS)
    assert dry.returncode == 0, dry.output[-3000:]
    rolled = {PROPERTIES_OP: 3, RESTART_OP: 3, FEATURES_OP: 3}
    assert {op: dry.changed.get(op) for op in rolled} == rolled, dry.changed

    on(first, "mkdir", "-p", WORK)
    subprocess.run(["docker", "cp", str(SCRIPT), f"{first}:{WORK}/kafka_stream.py"], check=True)
    on(first, "rm", "-f", f"{WORK}/stop", f"{WORK}/acked")
    client_config(first)
    producer = subprocess.Popen(
        stream(brokers, "produce", "--rate", str(RATE)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = Watcher(brokers.containers)
    try:
        time.sleep(5)
        watcher.start()
        upgraded = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
        watcher.done.set()
        watcher.join()
        # Then the last broker dies the hard way (SIGKILL) and starts again, stream running.
        killed = kill_and_start(brokers.containers[2]) if upgraded.returncode == 0 else {}
        time.sleep(5)
        on(first, "touch", f"{WORK}/stop")
        out, err = producer.communicate(timeout=420)
    finally:
        if producer.poll() is None:
            producer.kill()
    assert upgraded.returncode == 0, upgraded.output[-4000:]
    produced = json.loads(out.strip().splitlines()[-1]) if producer.returncode == 0 else {}
    read = json.loads(subprocess.run(stream(brokers, "consume"), capture_output=True,
                                     text=True, check=True).stdout)  # fmt: skip
    after = feature_levels(first)
    order = watcher.switch_order(f"kafka_2.13-{NEW}")
    counts = {**produced, **read, "killed": killed}
    print(f"\nupgrade {OLD} -> {NEW}: brokers in order {order}, at most "
          f"{watcher.out_at_once()} out at once over {len(watcher.samples)} samples; "
          f"finalized {after['finalized']} (raised {after['raised'] or before['below']}); "
          f"stream {json.dumps(counts, sort_keys=True)}")  # fmt: skip

    assert producer.returncode == 0, err[-2000:]
    assert {op: upgraded.changed.get(op) for op in rolled} == rolled, upgraded.changed
    assert watcher.out_at_once() <= 1, watcher.samples
    assert len(order) == 3
    assert after["finalized"]["metadata.version"] == after["wanted_metadata"], after
    assert after["below"] == {} and after["held"] == {"kraft.version": "0"}, after
    assert read["complete"] and read["lost"] == 0, counts
    assert (produced["failed"], produced["unsent"]) == (0, 0), counts
    assert produced["acknowledged"] == produced["produced"] > RATE * 30, counts
    assert read["distinct"] == produced["acknowledged"], counts
    for container in brokers.containers:
        assert OLD_SETTING not in on(container, "cat", "/etc/kafka/server.properties")
    state = cluster_state(first)
    assert (state["under_replicated"], state["offline"]) == ([], []), state

    jvms = {c: release_of_jvm(c) for c in brokers.containers}
    refused = run_pyinfra(old_cluster.inventory, "deploy.py", *ONLY_BROKERS)
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
