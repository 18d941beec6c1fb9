"""The local lab: systemd containers started by `python -m lab up`, reached as
inventory/prod.py reaches servers — SSH as `deploy` with a key, passwordless sudo, host keys
checked against a pinned known_hosts file.

What differs from prod.py, all of it here: each host's sshd is a port published on
127.0.0.1 (`ssh_hostname`/`ssh_port`), while the hosts reach each other by their inventory
names on the lab's network; the key and known_hosts are the lab's own (lab/.state/ssh/);
Debian's Apache-edition TimescaleDB instead of Timescale's licensed build; the host data
below. Group defaults come from inventory/group_data/*.py.
"""

import os as _os

from lab import HOSTS as _LAB_HOSTS
from lab import SUBNET as _LAB_SUBNET
from lab.access import DEPLOY_USER as _DEPLOY_USER
from lab.access import KNOWN_HOSTS as _KNOWN_HOSTS
from lab.access import PRIVATE_KEY as _PRIVATE_KEY
from lab.access import SSH_ADDRESS as _SSH_ADDRESS
from lab.kafka_release import archive_path as _kafka_archive
from lab.kafka_release import jmx_agent_path as _jmx_agent
from lab.secrets import export_lab_secrets as _export_lab_secrets

# Passwords come from environment variables (password_env), as in production; the lab's are
# generated once into lab/.state/secrets.json (0600, not in git) and exported here, unless
# TIMESTACK_LAB_SECRETS=0 (an auditor's view: the verify suite then runs without them).
if _os.environ.get("TIMESTACK_LAB_SECRETS", "1") != "0":
    _export_lab_secrets()

# What ts-db1 and its standby ts-db2 share.
_LAB_POSTGRES: dict[str, object] = {
    "source": "debian",  # trixie's postgresql-17 + Apache-edition TimescaleDB
    "postgis": True,
    "listen_addresses": ["*"],  # reached from the host via the published port
    # virtio reports rotational=1 for an SSD-backed VM disk; say what it really is.
    "tuning": {"disk": "ssd"},
    # The published ports (127.0.0.1:15432, 15433) arrive from the lab bridge. TLS as in
    # production: clients verify the certificate from Timestack's CA (docs/tls.md).
    "hba": [
        {"type": "hostssl", "database": "telemetry", "user": "all", "address": "127.0.0.1/32"},
        {"type": "hostssl", "database": "telemetry", "user": "all", "address": _LAB_SUBNET},
    ],
    # The role a standby streams as, on both: either may be the primary (ops/switchover.py).
    "replication": {
        "role": {
            "name": "timestack_replication",
            "password_env": "TIMESTACK_PG_REPLICATION_PASSWORD",
        }
    },
}

_LAB_DATA: dict[str, dict[str, object]] = {
    "ts-db1": {
        "postgres": _LAB_POSTGRES,
        # The write pool. Reachable through the published port 127.0.0.1:16432 (and the
        # 1000-client benchmark).
        "pgbouncer": {"listen_addr": "*"},
        # Where clients on this machine (verify suite, benchmark) reach the services.
        "verify_endpoints": {
            "postgres": "127.0.0.1:15432",
            "pgbouncer": "127.0.0.1:16432",
            "bench_postgres": "127.0.0.1:15499",
            "bench_pgbouncer": "127.0.0.1:16499",
        },
    },
    "ts-backup1": {
        "monitoring": {
            # Prometheus binds to this host's lab address, where the published port
            # 127.0.0.1:19090 arrives; Alertmanager stays on its loopback.
            "prometheus": {"listen_address": "ts-backup1", "scrape_interval": "10s"},
            # Short windows, so the induced faults of tests/integration/test_monitoring.py
            # fire and clear in about a minute each (defaults: 15s scrapes, a 5-minute
            # archive failure window, 2 and 1 minute `for:`).
            "thresholds": {"wal_archive_failure_window": "1min"},
            "alert_for": {"WalArchivingFailing": "30s", "KafkaBrokerDown": "30s"},
        },
    },
    # A streaming standby of ts-db1, restored from ts-backup1; its pgBouncer is the read pool.
    "ts-db2": {
        "postgres": {**_LAB_POSTGRES, "upstream": "ts-db1"},
        "pgbouncer": {"listen_addr": "*"},
        "verify_endpoints": {"postgres": "127.0.0.1:15433", "pgbouncer": "127.0.0.1:16433"},
    },
}
# Apache Kafka's release as an air-gapped site brings it: the official tarball's layout with
# the release's jars from Maven Central, assembled by `python -m lab up` (lab/kafka_release.py)
# and installed through the role's local-archive path (uploaded, SHA-512 checked, unpacked).
# The JMX exporter's agent likewise: the jar from Maven Central, fetched by `python -m lab up`
# and uploaded through the role's local-file path; enabled, so that a deploy of the brokers
# alone (the Kafka tests' variants) keeps it instead of restarting them without it.
# The clients the tests and benchmarks run inside the broker containers log in as this
# principal (SASL_SSL, SCRAM-SHA-512; its password from lab/.state/secrets.json, handed to
# them in a root-only file): the group data's topics and the tests' own scratch topics
# (timestack-test-*), their consumer groups, and the writers' group, whose offsets
# test_ingest.py moves back to replay messages.
_LAB_CLIENT = "timestack-lab-client"
_LAB_TOPICS = ["vehicle-telemetry", "factory-metrics", "timestack-test-*"]
_LAB_PRINCIPALS = [
    {
        "name": _LAB_CLIENT,
        "password_env": "TIMESTACK_KAFKA_LAB_CLIENT_PASSWORD",
        "produce": _LAB_TOPICS,
        "consume": _LAB_TOPICS,
        "groups": ["timestack-test-*", "timestack-ingest"],
    }
]
for _name in ("ts-kafka1", "ts-kafka2", "ts-kafka3"):
    _LAB_DATA[_name] = {
        "kafka": {
            "archive": str(_kafka_archive()),
            "jmx_exporter": {"jar": str(_jmx_agent()), "enabled": True},
            "principals": _LAB_PRINCIPALS,
        }
    }


def _ssh(port: int) -> dict[str, object]:
    return {
        "ssh_hostname": _SSH_ADDRESS,
        "ssh_port": port,
        "ssh_user": _DEPLOY_USER,
        "ssh_key": str(_PRIVATE_KEY),
        "ssh_known_hosts_file": str(_KNOWN_HOSTS),
        "ssh_strict_host_key_checking": "yes",
        "_sudo": True,
    }


def _group(name: str) -> list[tuple[str, dict[str, object]]]:
    return [
        (host.name, {**_ssh(host.ssh_port), **_LAB_DATA.get(host.name, {})})
        for host in _LAB_HOSTS
        if name in host.groups
    ]


timescaledb = _group("timescaledb")
pgbouncer = _group("pgbouncer")
kafka = _group("kafka")
ingest = _group("ingest")
pgbackrest_repo = _group("pgbackrest_repo")
monitoring = _group("monitoring")
