"""No acknowledged record is lost while the brokers roll and one is killed.

A producer with acks=all and idempotence (tests/integration/kafka_stream.py, run on the
first broker host so its traffic stays on the lab network) writes a numbered stream to a
topic with 3 replicas and min.insync.replicas 2 while (a) a configuration change rolls all
three brokers through the role's rolling restart and (b) the last broker is killed with
SIGKILL and started again. Then a consumer reads the topic back. Bounded: 200 records a
second, at most 15 minutes. The counts are printed (pytest -s, or -rA) and must show 0 lost.

    pytest tests/integration/test_kafka_no_loss.py -s        # on the lab
    TIMESTACK_KAFKA_TARGET=inventory/_mine.py:b1,b2,b3 pytest ...   # on brokers of your own
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from roles import kafka_clients
from tests.integration.kafka_lab import (
    CLIENT_DIR,
    ONLY_BROKERS,
    RESTART_OP,
    TARGET_ENV,
    Brokers,
    client_config,
    kill_and_start,
    on,
    target,
    variant,
)
from tests.integration.pyinfra_run import run_pyinfra

SCRIPT = Path(__file__).with_name("kafka_stream.py")
WORK = "/srv/timestack-kafka-stream"  # not /tmp: trixie's systemd mounts a tmpfs there
TOPIC = "timestack-test-no-loss"
RATE, MAX_SECONDS = 200, 900


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


def test_no_acknowledged_record_is_lost_through_a_rolling_restart_and_a_kill(
    brokers: Brokers,
) -> None:
    first = brokers.containers[0]
    on(first, "mkdir", "-p", WORK)
    subprocess.run(["docker", "cp", str(SCRIPT), f"{first}:{WORK}/kafka_stream.py"], check=True)
    on(first, "rm", "-f", f"{WORK}/stop", f"{WORK}/acked")
    client_config(first)
    producer = subprocess.Popen(
        stream(brokers, "produce", "--rate", str(RATE), "--max-seconds", str(MAX_SECONDS)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(5)
        with variant(brokers, "no_loss", {"kafka": {"settings": {"log.cleaner.threads": 2}}}) as p:
            rolled = run_pyinfra(p, "deploy.py", *ONLY_BROKERS)
        assert rolled.returncode == 0, rolled.output[-4000:]
        assert rolled.changed.get(RESTART_OP) == 3, rolled.changed
        killed = kill_and_start(brokers.containers[2])
        time.sleep(5)
        on(first, "touch", f"{WORK}/stop")
        out, err = producer.communicate(timeout=420)
        assert producer.returncode == 0, err[-2000:]
        produced = json.loads(out.strip().splitlines()[-1])
        read = json.loads(subprocess.run(stream(brokers, "consume"), capture_output=True,
                                         text=True, check=True).stdout)  # fmt: skip
    finally:
        if producer.poll() is None:
            producer.kill()
        subprocess.run(stream(brokers, "delete"), capture_output=True, check=False)
        restored = run_pyinfra(brokers.inventory)
    counts = {**produced, **read, "killed": killed}
    print(f"\nno-loss counts: {json.dumps(counts, sort_keys=True)}")
    assert restored.returncode == 0, restored.output[-3000:]
    assert read["complete"], counts
    assert produced["produced"] > RATE * 30, counts  # the stream ran through both events
    assert (produced["failed"], produced["unsent"]) == (0, 0), counts
    assert produced["acknowledged"] == produced["produced"], counts
    assert read["lost"] == 0, counts
    assert read["distinct"] == produced["acknowledged"], counts
