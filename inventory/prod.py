"""Example production inventory: edit the host names and SSH data, then

    pyinfra inventory/prod.py deploy.py
    pytest tests/verify --inventory inventory/prod.py

Groups decide what each host runs: timescaledb (PostgreSQL + TimescaleDB), pgbouncer
(usually the database host itself), kafka (KRaft brokers: 1, or 3 and more), ingest (the
writers carrying Kafka's messages into TimescaleDB), and pgbackrest_repo (the backup
repository, on another machine than the database).
Defaults live in inventory/group_data/*.py; a host's own dict sets only what differs.
Passwords are never written here: export the variables named by password_env
(TIMESTACK_PG_OWNER_PASSWORD, TIMESTACK_PG_APP_PASSWORD, TIMESTACK_PG_RO_PASSWORD,
TIMESTACK_PG_MONITOR_PASSWORD, TIMESTACK_PG_INGEST_PASSWORD, and with a standby
TIMESTACK_PG_REPLICATION_PASSWORD; Kafka's TIMESTACK_KAFKA_INGEST_PASSWORD and
TIMESTACK_KAFKA_LAG_PASSWORD, and one per kafka.principals entry) on the machine that runs
pyinfra. Kafka is secured by default (kafka.security sasl_ssl): a cluster deployed before,
still PLAINTEXT, moves with kafka.plaintext_migration (docs/kafka.md, "Moving a PLAINTEXT
cluster to SASL_SSL") or stays as it is with kafka.security: plaintext.
"""

# Connection data shared by every host: a deploy user with passwordless sudo and a key.
_SSH = {
    "ssh_user": "deploy",
    "ssh_key": "~/.ssh/timestack_ed25519",
    "ssh_port": 22,
    "_sudo": True,
}

timescaledb = [
    (
        "db1.telemetry.example.net",
        {
            **_SSH,
            "postgres": {
                # WAL on its own disk: max_wal_size is sized from that filesystem.
                "wal_directory": "/srv/pg_wal/17/main",
                # The role its standbys stream as (needed once a host names this one upstream).
                "replication": {
                    "role": {
                        "name": "timestack_replication",
                        "password_env": "TIMESTACK_PG_REPLICATION_PASSWORD",
                    }
                },
            },
        },
    ),
    # A streaming standby (read replica) of db1, restored from db1's pgBackRest repository.
    # Its hardware may differ, but it must allow as many connections, worker processes, WAL
    # senders, prepared transactions and locks as db1 (checked before any host changes).
    (
        "db2.telemetry.example.net",
        {
            **_SSH,
            "postgres": {
                "wal_directory": "/srv/pg_wal/17/main",
                "upstream": "db1.telemetry.example.net",
            },
        },
    ),
]

# pgBouncer on each database host, pooling its own server: applications write through db1's
# pool and read through db2's.
pgbouncer = list(timescaledb)

kafka = [
    ("kafka1.telemetry.example.net", {**_SSH, "kafka": {"node_id": 1}}),
    ("kafka2.telemetry.example.net", {**_SSH, "kafka": {"node_id": 2}}),
    ("kafka3.telemetry.example.net", {**_SSH, "kafka": {"node_id": 3}}),
]

# The ingest writers (roles/ingest): one per Kafka host, members of one consumer group that
# spreads the topics' partitions over them and moves them when one stops.
ingest = list(kafka)

pgbackrest_repo = [("backup1.telemetry.example.net", _SSH)]

# Prometheus and Alertmanager (roles/monitoring) on the repository host: off the machines they
# watch. Its UI listens on 127.0.0.1:9090 there (ssh -L 9090:127.0.0.1:9090 backup1...).
monitoring = [pgbackrest_repo[0]]

# Single-box variant (everything on one machine; backups then stay on the same host —
# set backup = {"repo_type": "posix_local"} and accept that they are not off-host):
#
# _BOX = ("box1.telemetry.example.net", _SSH)
# timescaledb = [_BOX]
# pgbouncer = [_BOX]
# kafka = [_BOX]
# ingest = [_BOX]
# pgbackrest_repo = []
# monitoring = [_BOX]   # with {"monitoring": {"alertmanager": {"port": 9095}}} in its data:
#                       # Kafka's controller listener has 9093, Alertmanager's default
