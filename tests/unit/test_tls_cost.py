"""`python -m bench.tls_cost`'s pure parts: the scratch broker's configuration, the
credentials made on the host, the stock cluster's rules and connections, the parsing of
each round and the summary. Nothing here is timed: figures are given, never measured."""

from __future__ import annotations

import getpass
import json
import math
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import tls_cost, tls_kafka, tls_postgres
from bench.clusters import PORT, HostShell
from bench.runner import alternate
from roles import kafka_clients
from roles.kafka.principals import credential_file
from roles.spec import HostInput, HostSpec, validate_inventory
from tests.unit.test_ingest_inventory import SECRETS

MODES = ("plaintext", "tls")


@pytest.fixture(autouse=True)
def _passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def broker(kafka: dict[str, Any]) -> HostSpec:
    """The first of three brokers, each with `kafka` as its data."""
    names = [f"k{n}.example.net" for n in (1, 2, 3)]
    hosts = [HostInput(name, frozenset({"kafka"}), {"kafka": kafka}) for name in names]
    return validate_inventory(hosts)[names[0]]


def properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_scratch_broker_listens_on_loopback_only_plaintext_and_sasl_ssl() -> None:
    values = properties(tls_kafka.server_properties(broker({})))
    listeners = values["listeners"].split(",")
    assert listeners == [
        "PLAINTEXT://127.0.0.1:29092",
        "SASL_SSL://127.0.0.1:29093",
        "CONTROLLER://127.0.0.1:29094",
    ]
    assert values["controller.quorum.voters"] == "1@127.0.0.1:29094"
    assert values["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    )
    # the deployed client listener's TLS and SCRAM: the host's certificate, SCRAM-SHA-512 only
    assert values["ssl.keystore.location"] == kafka_clients.KEYSTORE
    assert values["ssl.truststore.location"] == kafka_clients.CA_CERT
    assert values["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert "ScramLoginModule" in values["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert values["log.dirs"].startswith(tls_kafka.WORK + "/")


def test_scratch_broker_keeps_the_deployed_tuning_and_settings_but_not_their_listeners() -> None:
    spec = broker({"settings": {"num.io.threads": "4", "log.retention.hours": "24"}})
    values = properties(tls_kafka.server_properties(spec))
    assert values["num.io.threads"] == "4"  # kafka.settings over the seed's 16
    assert values["num.network.threads"] == "8"  # the seed's tuning
    assert values["compression.type"] == "snappy"
    assert values["auto.create.topics.enable"] == "false"
    assert "super.users" not in values and "authorizer.class.name" not in values


def test_the_telemetry_topic_is_created_as_declared_on_one_replica() -> None:
    topic = {
        "name": "vehicle-telemetry",
        "partitions": 12,
        "replication_factor": 3,
        "configs": {"compression.type": "snappy", "min.insync.replicas": "2"},
    }
    arguments = tls_kafka.topic_arguments(broker({"topics": [topic]}))
    assert arguments[:5] == ["--create", "--topic", "vehicle-telemetry", "--partitions", "12"]
    assert arguments[5:7] == ["--replication-factor", "1"]
    configs = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--config"]
    assert configs == ["compression.type=snappy", "min.insync.replicas=1"]


def test_an_undeclared_telemetry_topic_gets_the_model_defaults() -> None:
    arguments = tls_kafka.topic_arguments(broker({}))
    assert arguments[3:5] == ["--partitions", "10"]
    assert "min.insync.replicas=1" in arguments


def test_the_producers_differ_only_in_the_listener_settings() -> None:
    assert tls_kafka.client_settings("plaintext") == {"security.protocol": "PLAINTEXT"}
    tls = tls_kafka.client_settings("tls")
    assert tls["security.protocol"] == "SASL_SSL"
    assert tls["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert tls["ssl.ca.location"] == kafka_clients.CA_CERT
    assert "sasl.password" not in tls  # made on the host
    for mode in MODES:
        command = tls_kafka.feed_command(mode, 5000)
        assert f"--bootstrap 127.0.0.1:{tls_kafka.PORTS[mode]}" in command
        assert "--count 5000" in command and command.startswith("timeout ")


def test_the_credentials_are_made_on_the_host_in_root_only_files(tmp_path: Path) -> None:
    client, credential = tmp_path / "tls.json", tmp_path / "credential.properties"
    settings = tls_kafka.client_settings("tls")
    script = tls_kafka.credentials_script(settings, str(client), str(credential))
    subprocess.run([sys.executable, "-"], input=script, text=True, check=True)
    written = json.loads(client.read_text())
    password = written.pop("sasl.password")
    assert written == settings and len(password) >= 40
    assert credential.read_text() == credential_file(password)  # what the role writes
    for path in (client, credential):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = tmp_path / "again.json"
    subprocess.run(
        [sys.executable, "-"],
        input=tls_kafka.credentials_script(settings, str(again), str(credential)),
        text=True,
        check=True,
    )
    assert json.loads(again.read_text())["sasl.password"] != password


def test_a_feed_round_needs_every_message_acknowledged() -> None:
    line = json.dumps({"acknowledged": 2000, "seconds": 0.5, "bytes": 1_000_000, "errors": []})
    produced = tls_kafka.parse_feed("tls", 2000, f"noise\n{line}\n")
    assert (produced.messages_per_s, produced.megabytes_per_s) == (4000.0, 2.0)
    short = json.dumps(
        {"acknowledged": 10, "seconds": 1, "bytes": 1, "errors": ["Local: timed out"]}
    )
    with pytest.raises(SystemExit, match=r"tls: .* acknowledged 10 of 2000 .*timed out"):
        tls_kafka.parse_feed("tls", 2000, short)


def test_the_stock_cluster_admits_only_the_benchmarks_role_from_loopback() -> None:
    assert tls_postgres.hba_rules("telemetry").splitlines() == [
        "hostnossl telemetry timestack_bench_tls 127.0.0.1/32 scram-sha-256",
        "hostssl telemetry timestack_bench_tls 127.0.0.1/32 scram-sha-256",
    ]
    settings = tls_postgres.tls_settings()
    assert "ALTER SYSTEM SET ssl = 'on';" in settings
    # The files the postgres role installs for the tuned cluster (a path no role writes
    # leaves TLS off: the server then refuses every verify-full round).
    assert "ssl_cert_file = '/etc/timestack/tls/postgresql/host.crt'" in settings
    assert "ssl_key_file = '/etc/timestack/tls/postgresql/host.key'" in settings


def test_a_round_dials_loopback_and_verifies_the_certificate_name_with_tls() -> None:
    plain = tls_postgres.conninfo("plaintext", "db1.example.net", "telemetry")
    tls = tls_postgres.conninfo("tls", "db1.example.net", "telemetry")
    for info in (plain, tls):
        assert f"host=db1.example.net hostaddr=127.0.0.1 port={PORT}" in info
        assert f"passfile={tls_postgres.PASSFILE}" in info and "password=" not in info
    assert "sslmode=disable" in plain and "sslrootcert" not in plain
    assert "sslmode=verify-full sslrootcert=/etc/timestack/tls/ca.crt" in tls


def test_the_passfile_is_made_on_the_host_with_a_random_password(tmp_path: Path) -> None:
    path = tmp_path / "pgpass"
    command = tls_postgres.passfile_command("telemetry").replace(tls_postgres.PASSFILE, str(path))
    subprocess.run(["sh", "-c", command], check=True)
    fields = path.read_text().rstrip("\n").split(":")
    assert fields[:4] == ["*", str(PORT), "telemetry", tls_postgres.ROLE]
    assert len(fields[4]) >= 24 and fields[4].isalnum()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "cut -d: -f5" in tls_postgres.role_script()  # psql reads the same field


PSQL_TLS = """\
t|TLSv1.3|TLS_AES_256_GCM_SHA384
Timing is on.
COPY 20000
Time: 812.500 ms
"""


def test_a_copy_round_reads_rows_time_and_the_negotiated_tls() -> None:
    copied = tls_postgres.parse_round("tls", 20000, PSQL_TLS)
    assert copied.tls == "TLSv1.3 TLS_AES_256_GCM_SHA384"
    assert copied.rows_per_s == pytest.approx(20000 / 0.8125)
    plain = PSQL_TLS.replace("t|TLSv1.3|TLS_AES_256_GCM_SHA384", "f||")
    assert tls_postgres.parse_round("plaintext", 20000, plain).tls == ""


def test_a_copy_round_on_the_wrong_connection_or_short_of_rows_stops_the_run() -> None:
    with pytest.raises(SystemExit, match="plaintext: the connection used TLS"):
        tls_postgres.parse_round("plaintext", 20000, PSQL_TLS)
    with pytest.raises(SystemExit, match="expected COPY 30000"):
        tls_postgres.parse_round("tls", 30000, PSQL_TLS)
    with pytest.raises(SystemExit, match="no pg_stat_ssl row"):
        tls_postgres.parse_round("tls", 20000, "")


def _rounds() -> tuple[list[tls_kafka.Round], list[tls_postgres.Round]]:
    produced = [
        tls_kafka.Round("plaintext", 1000, 0.010, 500_000),
        tls_kafka.Round("tls", 1000, 0.0125, 500_000),
        tls_kafka.Round("tls", 1000, 0.0125, 500_000),
        tls_kafka.Round("plaintext", 1000, 0.010, 500_000),
    ]
    copied = [
        tls_postgres.Round("plaintext", 1000, 0.05, ""),
        tls_postgres.Round("tls", 1000, 0.05, "TLSv1.3 X"),
        tls_postgres.Round("tls", 1000, 0.04, "TLSv1.3 X"),
        tls_postgres.Round("plaintext", 1000, 0.04, ""),
    ]
    return produced, copied


def test_the_summary_gives_each_mode_its_rounds_and_the_cost_of_tls() -> None:
    figures = tls_cost.summarise(*_rounds())
    assert figures["plaintext"]["kafka_messages"].samples == (100_000.0, 100_000.0)
    assert figures["tls"]["kafka_payload"].median == pytest.approx(40.0)
    assert tls_cost.tls_cost(figures, tls_cost.KAFKA_MESSAGES) == pytest.approx(0.2)
    assert tls_cost.tls_cost(figures, tls_cost.POSTGRES_COPY) == pytest.approx(0.0)
    empty = tls_cost.summarise([], [])
    assert math.isnan(tls_cost.tls_cost(empty, tls_cost.POSTGRES_COPY))


def test_the_table_shows_medians_cost_and_every_round() -> None:
    text = tls_cost.table(tls_cost.summarise(*_rounds()))
    assert "+20.0% of plaintext throughput" in text
    lines = text.splitlines()
    medians = next(row for row in lines if row.startswith("Kafka produce (acks=all)"))
    assert medians.split()[3:7] == ["messages/s", "100,000", "80,000", "+20.0%"]
    copy = next(row for row in lines if row.startswith("PostgreSQL COPY"))
    assert copy.split()[4:8] == ["rows/s", "22,500", "22,500", "+0.0%"]
    each = [row.split()[-3:] for row in lines if row.startswith("PostgreSQL COPY")][1:]
    assert each == [["plaintext", "20,000", "25,000"], ["TLS", "20,000", "25,000"]]


def test_the_json_document_has_both_modes_and_the_cost() -> None:
    doc = tls_cost.document(tls_cost.summarise(*_rounds()), {"messages": 1000})
    parsed = json.loads(json.dumps(doc))
    assert parsed["messages"] == 1000
    assert set(parsed["metrics"]) == {m.key for m in tls_cost.METRICS}
    for entry in parsed["metrics"].values():
        assert entry["plaintext"]["samples"] and entry["tls"]["samples"]
        assert entry["tls_cost"] is not None
    assert parsed["metrics"]["kafka_messages"]["ratio"] == pytest.approx(1.25)


def test_rounds_alternate_which_mode_goes_first() -> None:
    assert [list(alternate(MODES, rep)) for rep in range(3)] == [
        ["plaintext", "tls"],
        ["tls", "plaintext"],
        ["plaintext", "tls"],
    ]


def test_the_copy_data_is_the_asked_number_of_vehicle_rows() -> None:
    payload = tls_cost.vehicle_copy(120)
    assert payload.count(b"\n") == 120


def test_bad_rounds_and_messages_are_refused_before_any_host(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv, field in ((["--rounds", "0"], "--rounds"), (["--messages", "5000000"], "--messages")):
        with pytest.raises(SystemExit):
            tls_cost.main(["--inventory", "no-such-inventory.py", *argv])
        assert f"{field}: got" in capsys.readouterr().err


@dataclass
class _Result:
    rc: int
    stdout: str
    stderr: str


class _LocalHost:
    """Testinfra's host.run, run here: what HostShell sends, through sh."""

    def run(self, command: str) -> _Result:
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
        return _Result(done.returncode, done.stdout, done.stderr)


def test_an_upload_arrives_whole_in_pieces_no_command_can_exceed(tmp_path: Path) -> None:
    data = os.urandom(300_000)  # incompressible: several pieces
    sent: list[str] = []

    class Recording(_LocalHost):
        def run(self, command: str) -> _Result:
            sent.append(command)
            return super().run(command)

    path = tmp_path / "rows.copy"
    HostShell("local", Recording()).upload(str(path), data, owner=getpass.getuser())
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(sent) > 4 and max(len(command) for command in sent) < 128 * 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.copy"]
