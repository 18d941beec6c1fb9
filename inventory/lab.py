"""The local lab: the systemd containers started by `python -m lab up`.

Group defaults come from inventory/group_data/*.py; what differs in the lab is set here.
"""

from lab import HOSTS as _LAB_HOSTS
from lab import SUBNET as _LAB_SUBNET
from lab.kafka_release import archive_path as _kafka_archive
from lab.secrets import export_lab_secrets as _export_lab_secrets

# Passwords come from environment variables (password_env), as in production; the lab's are
# generated once into lab/.state/secrets.json (0600, not in git).
_export_lab_secrets()

_LAB_DATA: dict[str, dict[str, object]] = {
    "ts-db1": {
        "postgres": {
            "source": "debian",  # trixie's postgresql-17 + Apache-edition TimescaleDB
            "postgis": True,
            "listen_addresses": ["*"],  # reached from the host via the published port
            # virtio reports rotational=1 for an SSD-backed VM disk; say what it really is.
            "tuning": {"disk": "ssd"},
            # The published port 127.0.0.1:15432 arrives from the lab bridge; no TLS in the lab.
            "hba": [
                {"type": "host", "database": "telemetry", "user": "all", "address": "127.0.0.1/32"},
                {"type": "host", "database": "telemetry", "user": "all", "address": _LAB_SUBNET},
            ],
        },
        # Reachable through the published port 127.0.0.1:16432 (and the 1000-client benchmark).
        "pgbouncer": {"listen_addr": "*"},
    },
}
# Apache Kafka's release as an air-gapped site brings it: the official tarball's layout with
# the release's jars from Maven Central, assembled by `python -m lab up` (lab/kafka_release.py)
# and installed through the role's local-archive path (uploaded, SHA-512 checked, unpacked).
for _name in ("ts-kafka1", "ts-kafka2", "ts-kafka3"):
    _LAB_DATA[_name] = {"kafka": {"archive": str(_kafka_archive())}}


def _group(name: str) -> list[tuple[str, dict[str, object]]]:
    return [
        (f"@docker/{host.name}", _LAB_DATA.get(host.name, {}))
        for host in _LAB_HOSTS
        if name in host.groups
    ]


timescaledb = _group("timescaledb")
pgbouncer = _group("pgbouncer")
kafka = _group("kafka")
pgbackrest_repo = _group("pgbackrest_repo")
