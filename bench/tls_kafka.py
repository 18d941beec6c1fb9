"""The Kafka half of `python -m bench.tls_cost`: one scratch broker, two listeners.

On a broker host, the installed release (`kafka.install_dir`/kafka) runs a second, single-node
KRaft broker as a transient systemd unit of the kafka user, bound to 127.0.0.1 only, with
its own ports and its own directory. It has a PLAINTEXT listener and a SASL_SSL listener
(SCRAM-SHA-512, the host's certificate from Timestack's CA, as the deployed client listener
has): the same broker process, the same topic, the same producer; only the listener
differs. The deployed broker is not touched. The unit stops by itself after a bound
(RuntimeMaxSec) and is stopped and its directory removed when the benchmark ends, however it
ends.

The SCRAM password is made on the host by a short Python script (secrets.token_urlsafe) and
written to two root-only files: the producer's librdkafka settings and the credential file
`kafka-configs.sh --add-config-file` reads (removed once used). It is never on a command
line, in output, or on the machine running the benchmark.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clusters import HostShell
from bench.telemetry_feed import TOPICS
from roles import kafka_clients
from roles.kafka import config
from roles.kafka.cluster import kafka_uuid_text
from roles.kafka.principals import set_password_command
from roles.spec import HostSpec, KafkaTopic

FEED = Path(__file__).with_name("telemetry_feed.py")
WORK = "/srv/timestack-bench-tls/kafka"  # not /tmp: trixie's systemd mounts a tmpfs there
BROKER_DIR = f"{WORK}/broker"  # the kafka user's: properties, data, logs
CLIENT_DIR = f"{WORK}/client"  # root's (0700): the feed, client settings, the credential
PROPERTIES = f"{BROKER_DIR}/server.properties"
CREDENTIAL = f"{CLIENT_DIR}/credential.properties"
UNIT = "timestack-bench-tls-kafka"
USERNAME = "timestack-bench-tls"
LOOPBACK = "127.0.0.1"
# Beside the deployed broker's 9092-9094: free on a Timestack host unless someone took them
# (checked before the broker starts).
PORTS = {"plaintext": 29092, "tls": 29093, "controller": 29094}
MODES = ("plaintext", "tls")
HEAP = "-Xms512m -Xmx512m"  # a scratch broker beside the real one: keep it small
START_SECONDS = 120  # for the broker to listen
ROUND_SECONDS = 300  # the feed's --max-seconds per round
TOPIC = TOPICS["vehicle"]


def client_settings(mode: str) -> dict[str, str]:
    """librdkafka settings of the producer per mode, password aside (added on the host).
    TLS: the deployed clients' SCRAM settings and CA; the name check is off because the
    listener is dialled as 127.0.0.1, which the host's certificate does not name (the
    chain is still verified against Timestack's CA; a name check costs nothing measurable)."""
    if mode == "plaintext":
        return {"security.protocol": "PLAINTEXT"}
    settings = kafka_clients.sasl_client(USERNAME, "", kafka_clients.CA_CERT)
    del settings["sasl.password"]
    return {**settings, "ssl.endpoint.identification.algorithm": "none"}


def scratch_cluster_id() -> str:
    """A random cluster id in Kafka's form, never starting with "-" (an option to
    kafka-storage.sh)."""
    while (text := kafka_uuid_text(uuid.uuid4().bytes)).startswith("-"):
        pass
    return text


def server_properties(spec: HostSpec) -> str:
    """The scratch broker's server.properties: the deployed broker's tuning and
    kafka.settings, loopback listeners of its own, TLS with the host's key and certificate."""
    plain, tls, controller = (f"{LOOPBACK}:{PORTS[k]}" for k in ("plaintext", "tls", "controller"))
    mechanism = kafka_clients.SCRAM_MECHANISM
    own = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{controller}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{plain},SASL_SSL://{tls},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{plain},SASL_SSL://{tls}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,"
        "CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": f"{BROKER_DIR}/data",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": kafka_clients.KEYSTORE,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": kafka_clients.CA_CERT,
        "sasl.enabled.mechanisms": mechanism,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": mechanism,
        f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config": config.SCRAM_LOGIN,
    }
    tuning = {p.key: p.value for p in config.TUNING} | dict(spec.kafka.settings)
    values = {**{k: v for k, v in tuning.items() if k not in own}, **own}
    return kafka_clients.properties_text(values, "timestack bench.tls_cost scratch broker")


def topic_arguments(spec: HostSpec) -> list[str]:
    """kafka-topics.sh --create arguments: the telemetry topic as the inventory declares it
    (partitions, configs), on one broker: one replica, so min.insync.replicas 1."""
    declared = next((t for t in spec.kafka.topics if t.name == TOPIC), KafkaTopic(name=TOPIC))
    configs = {**declared.configs, "min.insync.replicas": "1"}
    arguments = ["--create", "--topic", TOPIC, "--partitions", str(declared.partitions)]
    arguments += ["--replication-factor", "1"]
    for key, value in configs.items():
        arguments += ["--config", f"{key}={value}"]
    return arguments


def credentials_script(settings: Mapping[str, str], client_path: str, credential_path: str) -> str:
    """Python run on the broker host: a new password into the producer's settings and the
    SCRAM credential file, both 0600. token_urlsafe's characters need no escaping in a
    properties file (roles/kafka/principals.py's credential_file escapes those that do)."""
    return (
        "import json, os, secrets\n"
        "password = secrets.token_urlsafe(32)\n"
        "os.umask(0o077)\n"
        f"with open({client_path!r}, 'w', encoding='ascii') as out:\n"
        f"    json.dump({{**{dict(settings)!r}, 'sasl.password': password}}, out)\n"
        f"with open({credential_path!r}, 'w', encoding='ascii') as out:\n"
        f"    out.write({kafka_clients.SCRAM_MECHANISM + '=password='!r} + password + '\\n')\n"
    )


def client_path(mode: str) -> str:
    return f"{CLIENT_DIR}/{mode}.json"


def feed_command(mode: str, count: int) -> str:
    return (
        f"timeout {ROUND_SECONDS + 60} python3 {CLIENT_DIR}/feed.py produce "
        f"--bootstrap {LOOPBACK}:{PORTS[mode]} --client-config {client_path(mode)} "
        f"--prefix TLS --count {count} --max-seconds {ROUND_SECONDS}"
    )


@dataclass(frozen=True)
class Round:
    mode: str
    messages: int
    seconds: float
    payload_bytes: int

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def megabytes_per_s(self) -> float:
        return self.payload_bytes / self.seconds / 1e6


def parse_feed(mode: str, count: int, output: str) -> Round:
    """The feed's JSON summary (its last line) as one round; every message acknowledged."""
    lines = output.strip().splitlines()
    if not lines:
        raise SystemExit(f"{mode}: the feed printed nothing")
    produced: dict[str, Any] = json.loads(lines[-1])
    if produced["acknowledged"] != count:
        raise SystemExit(
            f"{mode}: the scratch broker acknowledged {produced['acknowledged']} of {count} "
            f"messages ({'; '.join(produced.get('errors', []))})"
        )
    return Round(mode, count, max(float(produced["seconds"]), 1e-3), int(produced["bytes"]))


class ScratchBroker:
    """The scratch broker on one host, reached through its shell (bench/clusters.py)."""

    def __init__(self, spec: HostSpec, shell: HostShell) -> None:
        self.spec, self.shell = spec, shell
        self.tool = f"{config.home(spec.kafka)}/bin"
        # The release's tools write a log directory where LOG_DIR says (else into the
        # release): keep theirs with the scratch files.
        self.tools_env = f"env LOG_DIR={WORK}/tool-logs"

    def start(self, rounds: int) -> None:
        ports = " ".join(f"sport = :{port} or" for port in PORTS.values()).removesuffix(" or")
        taken = self.shell.run(f"ss -Hltn '( {ports} )'").strip()
        if taken:
            raise SystemExit(
                f"{self.spec.name}: ports {sorted(PORTS.values())} must be free for the scratch "
                f"broker; listening now:\n{taken}"
            )
        user = config.USER
        self.shell.run(
            f"install -d -m 0755 {WORK} && install -d -m 0700 {CLIENT_DIR} && "
            f"install -d -m 0700 -o {user} -g {user} {BROKER_DIR} {BROKER_DIR}/data "
            f"{BROKER_DIR}/logs"
        )
        self.shell.run(
            f"runuser -u {user} -- sh -c {shlex.quote(f'cat > {PROPERTIES}')}",
            server_properties(self.spec),
        )
        self.shell.run(
            f"runuser -u {user} -- env LOG_DIR={BROKER_DIR}/logs "
            f"{self.tool}/kafka-storage.sh format --cluster-id {scratch_cluster_id()} "
            f"--config {PROPERTIES} >/dev/null"
        )
        bound = START_SECONDS + 2 * (rounds + 1) * (ROUND_SECONDS + 60)
        self.shell.run(
            f"systemd-run --quiet --collect --unit {UNIT} --uid {user} --gid {user} "
            f"--property RuntimeMaxSec={bound} --property LimitNOFILE=100000 "
            f"--setenv 'KAFKA_HEAP_OPTS={HEAP}' --setenv LOG_DIR={BROKER_DIR}/logs "
            f"{self.tool}/kafka-server-start.sh {PROPERTIES}"
        )
        self._wait_listening()
        plaintext = f"--bootstrap-server {LOOPBACK}:{PORTS['plaintext']}"
        self.shell.run(
            f"{self.tools_env} {self.tool}/kafka-topics.sh {plaintext} "
            + " ".join(shlex.quote(a) for a in topic_arguments(self.spec))
            + " >/dev/null"
        )
        self._credentials(plaintext)
        self.shell.run(f"tee {CLIENT_DIR}/feed.py >/dev/null", FEED.read_text())

    def _wait_listening(self) -> None:
        port = PORTS["tls"]
        self.shell.run(
            f"for i in $(seq {START_SECONDS}); do "
            f"ss -Hltn 'sport = :{port}' | grep -q . && exit 0; "
            f"systemctl is-active -q {UNIT} || break; sleep 1; done; "
            f"journalctl -u {UNIT} -n 30 --no-pager >&2; "
            f"tail -n 30 {BROKER_DIR}/logs/server.log >&2; exit 1"
        )

    def _credentials(self, plaintext: str) -> None:
        """The TLS producer's principal, over the PLAINTEXT listener (no authorizer: the
        scratch broker's only users are the benchmark's producers)."""
        write = shlex.quote(f"umask 077 && cat > {client_path('plaintext')}")
        self.shell.run(f"sh -c {write}", json.dumps(client_settings("plaintext")))
        script = credentials_script(client_settings("tls"), client_path("tls"), CREDENTIAL)
        self.shell.run("python3 -", script)
        tool = [f"{self.tool}/kafka-configs.sh", *plaintext.split()]
        command = set_password_command(USERNAME, CREDENTIAL, tool)
        try:
            quoted = " ".join(shlex.quote(part) for part in command)
            self.shell.run(f"{self.tools_env} {quoted} >/dev/null")
        finally:
            self.shell.run(f"rm -f {CREDENTIAL}")

    def produce(self, mode: str, count: int) -> Round:
        return parse_feed(mode, count, self.shell.run(feed_command(mode, count)))

    def remove(self) -> None:
        """Stop the unit (a transient unit is gone once stopped) and remove every file."""
        self.shell.run(
            f"systemctl stop {UNIT} 2>/dev/null; systemctl reset-failed {UNIT} 2>/dev/null; "
            f"rm -rf {WORK}; rmdir --ignore-fail-on-non-empty {Path(WORK).parent} 2>/dev/null; "
            "true"
        )


@contextmanager
def scratch_broker(spec: HostSpec, shell: HostShell, rounds: int) -> Iterator[ScratchBroker]:
    broker = ScratchBroker(spec, shell)
    broker.remove()  # a leftover of a killed run
    try:
        broker.start(rounds)
        yield broker
    finally:
        broker.remove()
