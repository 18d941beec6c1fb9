"""Passwords for the lab, generated once per checkout and kept out of git (lab/.state/).

Production inventories name environment variables that hold each password (password_env);
the lab inventory fills those variables from this file, so the roles take the same path.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

STATE_DIR = Path(__file__).resolve().parent / ".state"
SECRETS_FILE = STATE_DIR / "secrets.json"

# The password_env names that inventory/group_data declares.
LAB_SECRET_ENV = (
    "TIMESTACK_PG_OWNER_PASSWORD",
    "TIMESTACK_PG_APP_PASSWORD",
    "TIMESTACK_PG_RO_PASSWORD",
    "TIMESTACK_PG_MONITOR_PASSWORD",
    "TIMESTACK_PG_REPLICATION_PASSWORD",
    "TIMESTACK_PG_INGEST_PASSWORD",
    # Kafka's SCRAM principals: the ingest writers, the lag collector (roles/spec/kafka.py
    # defaults) and the lab's test client (inventory/lab.py).
    "TIMESTACK_KAFKA_INGEST_PASSWORD",
    "TIMESTACK_KAFKA_LAG_PASSWORD",
    "TIMESTACK_KAFKA_LAB_CLIENT_PASSWORD",
)


def lab_secrets() -> dict[str, str]:
    """The lab's passwords, creating any that are missing (file mode 0600)."""
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    known: dict[str, str] = json.loads(SECRETS_FILE.read_text()) if SECRETS_FILE.exists() else {}
    missing = [name for name in LAB_SECRET_ENV if name not in known]
    if missing:
        known.update({name: secrets.token_urlsafe(24) for name in missing})
        fd = os.open(SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(known, handle, indent=2)
    return known


def export_lab_secrets() -> None:
    """Set each lab password variable unless the caller's environment already has it."""
    for name, value in lab_secrets().items():
        os.environ.setdefault(name, value)
