"""Unit-test-wide environment: the passwords of Timestack's own Kafka principals, which any
inventory with brokers and writers (or monitoring) needs under the default kafka.security
sasl_ssl. Set for the whole session, before module-scoped fixtures build inventories; a
test about a missing password deletes it with monkeypatch."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

KAFKA_PASSWORDS = {
    "TIMESTACK_KAFKA_INGEST_PASSWORD": "ingest-Kafka-pw-for-tests",
    "TIMESTACK_KAFKA_LAG_PASSWORD": "lag-Kafka-pw-for-tests",
}


@pytest.fixture(autouse=True, scope="session")
def _kafka_principal_passwords() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in KAFKA_PASSWORDS}
    for name, value in KAFKA_PASSWORDS.items():
        os.environ.setdefault(name, value)
    yield
    for name, old in before.items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
