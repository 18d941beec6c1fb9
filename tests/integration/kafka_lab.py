"""The lab's three Kafka brokers as the Kafka integration tests reach them.

By default: ts-kafka1..3 of inventory/lab.py, deployed by the session's `first_deploy`.
`TIMESTACK_KAFKA_TARGET=<inventory>:<container>,<container>,<container>` points the tests
at brokers of your own instead (an inventory whose group kafka is those containers, already
deployed once); then the lab is not touched.

Variants of the host data (a setting, a topic's partitions) are written as a Kafka-only
inventory (inventory/_kafka_*.py, ignored by git): the target inventory with the brokers'
data changed, deployed with `--limit kafka` (ONLY_BROKERS) so only the brokers are touched.

The brokers are secured (kafka.security sasl_ssl): on-host administration uses the host's
certificate on the internal listener (/etc/kafka/admin-client.json, as the role does);
clients the tests run in a container log in as the lab's test principal
(`timestack-lab-client`, inventory/lab.py) with librdkafka settings written into the
container as a root-only file (`client_config`): its password is never on a command line.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.secrets import lab_secrets
from roles import kafka_clients
from roles.kafka import config
from roles.kafka.topics import TopicState, parse_described
from tests.integration.pyinfra_run import ROOT

TARGET_ENV = "TIMESTACK_KAFKA_TARGET"
LAB_CLIENT = "timestack-lab-client"
LAB_CLIENT_PASSWORD_ENV = "TIMESTACK_KAFKA_LAB_CLIENT_PASSWORD"
CLIENT_DIR = "/srv/timestack-kafka-client"  # not /tmp: trixie's systemd mounts a tmpfs there
INTERNAL_PORT = 9094
DEPLOY = "Kafka (KRaft)"
RESTART_OP = f"{DEPLOY} | Rolling restart for changed configuration or release"
TOPICS_OP = f"{DEPLOY} | Topics as declared"
PROPERTIES_OP = f"{DEPLOY} | server.properties"
GROUP_TOPICS: list[dict[str, Any]] = runpy.run_path(
    str(ROOT / "inventory" / "group_data" / "kafka.py")
)["kafka"]["topics"]
VARIANT = """\
# Temporary variant written by {test}; removed when the test ends: every group of the target
# inventory, `overrides` deep-merged into the brokers' host data. Deployed with ONLY_BROKERS:
# what the roles derive from the whole inventory (the writers' and lag collector's
# principals) stays as the target deploys it.
import {module} as _target
from roles.hostdata import deep_merge as _merge

_brokers = {{_name for _name, _data in _target.kafka}}
for _group, _hosts in list(vars(_target).items()):
    if not _group.startswith("_") and isinstance(_hosts, list):
        globals()[_group] = [
            (_name, _merge(_data, {overrides!r}) if _name in _brokers else _data)
            for _name, _data in _hosts
        ]
"""
ONLY_BROKERS = ("--limit", "kafka")  # a variant's deploys run on group kafka only


@dataclass(frozen=True)
class Brokers:
    inventory: str  # relative to ROOT
    containers: tuple[str, ...]

    @property
    def bootstrap(self) -> str:
        """Every broker's client listener (SASL_SSL) by the name it advertises (the
        container name)."""
        return ",".join(f"{name}:9092" for name in self.containers)

    @property
    def internal_bootstrap(self) -> str:
        """Every broker's internal listener (mutual TLS with a broker host's certificate)."""
        return ",".join(f"{name}:{INTERNAL_PORT}" for name in self.containers)

    @property
    def module(self) -> str:
        return self.inventory.removesuffix(".py").replace("/", ".")


def target() -> Brokers:
    configured = os.environ.get(TARGET_ENV)
    if not configured:
        return Brokers("inventory/lab.py", ("ts-kafka1", "ts-kafka2", "ts-kafka3"))
    inventory, _, names = configured.partition(":")
    containers = tuple(name for name in names.split(",") if name)
    assert len(containers) == 3, f"{TARGET_ENV}: expected <inventory>:<3 container names>"
    return Brokers(inventory, containers)


def on(container: str, *command: str, stdin: str | None = None) -> str:
    """Run a command in a broker container; its stdout (a failure raises with stderr)."""
    result = subprocess.run(
        ["docker", "exec", "-i", container, *command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{container}: {command}: {result.stderr[-2000:]}"
    return result.stdout


def admin_args(container: str) -> list[str]:
    """How the role's admin tool reaches the cluster from a broker: its internal listener,
    the host's certificate."""
    return ["--bootstrap", f"{container}:{INTERNAL_PORT}",
            "--client-config", kafka_clients.ADMIN_CLIENT,
            "--command-config", kafka_clients.ADMIN_PROPERTIES]  # fmt: skip


def admin(container: str, *args: str) -> Any:
    """The role's admin tool on a broker, its JSON answer."""
    return json.loads(on(container, "python3", config.ADMIN_SCRIPT, *args, *admin_args(container)))


def client_settings(username: str, password: str) -> dict[str, str]:
    """librdkafka settings of a SCRAM principal on the client listener, CA from the host."""
    return kafka_clients.sasl_client(username, password, kafka_clients.CA_CERT)


def client_config(container: str, username: str = LAB_CLIENT, password: str | None = None,
                  name: str = "client.json") -> str:  # fmt: skip
    """A root-only (0600) JSON file of librdkafka settings in the container, sent on stdin;
    its path. The password defaults to the lab client's, from the lab's secrets."""
    if password is None:
        password = os.environ.get(LAB_CLIENT_PASSWORD_ENV) or lab_secrets()[LAB_CLIENT_PASSWORD_ENV]
    path = f"{CLIENT_DIR}/{name}"
    on(container, "sh", "-c", f"umask 077 && mkdir -p {CLIENT_DIR} && cat > {path}",
       stdin=json.dumps(client_settings(username, password)))  # fmt: skip
    return path


def describe(container: str) -> dict[str, TopicState]:
    described = parse_described(json.dumps(admin(container, "describe")))
    assert described.status == "ok", described.error
    return described.topics


def cluster_state(container: str) -> dict[str, Any]:
    state: dict[str, Any] = admin(container, "state", "--kafka-home", "/opt/kafka")
    return state


@contextmanager
def variant(brokers: Brokers, test: str, overrides: Mapping[str, Any]) -> Iterator[Path]:
    """inventory/_kafka_<test>.py: the target inventory with `overrides` deep-merged into
    every broker's host data (deploy it with ONLY_BROKERS), e.g. {"kafka": {"settings": {...}}}."""
    path = ROOT / "inventory" / f"_kafka_{test}.py"
    path.write_text(VARIANT.format(test=test, module=brokers.module, overrides=dict(overrides)))
    try:
        yield path.relative_to(ROOT)
    finally:
        path.unlink(missing_ok=True)


def topics_with(name: str, **changes: Any) -> list[dict[str, Any]]:
    """The group data's topics with `changes` applied to topic `name`."""
    return [{**topic, **changes} if topic["name"] == name else topic for topic in GROUP_TOPICS]


def kill_and_start(container: str) -> dict[str, Any]:
    """SIGKILL the broker's JVM, start it again, wait until the cluster is healthy."""
    pid = on(container, "systemctl", "show", "kafka.service", "--property", "MainPID").strip()
    on(container, "systemctl", "kill", "--signal=SIGKILL", "kafka.service")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = on(container, "systemctl", "show", "kafka.service", "--property", "MainPID")
        if state.strip() != pid:
            break
        time.sleep(0.5)
    on(container, "systemctl", "start", "kafka.service")  # systemd may have restarted it
    node = str(brokers_node(container))
    on(container, "python3", config.ADMIN_SCRIPT, "health", *admin_args(container),
       "--kafka-home", "/opt/kafka", "--node-id", node, "--voters", "1,2,3",
       "--name", container, "--when", "after SIGKILL", "--timeout", "300")  # fmt: skip
    now = on(container, "systemctl", "show", "kafka.service", "--property", "MainPID")
    return {"killed": pid, "now": now.strip()}


def brokers_node(container: str) -> int:
    meta = on(container, "cat", "/var/lib/kafka/data/meta.properties")
    return int(next(line for line in meta.splitlines() if line.startswith("node.id="))[8:])
