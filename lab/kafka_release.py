"""The lab's Apache Kafka release, assembled here the way an air-gapped site would.

Apache's release tarball is not reachable from the lab's machines, Maven Central is: it
serves the release's jars. This module resolves the runtime jars of the broker
(org.apache.kafka:kafka_<scala>) and of the command-line tools (kafka-tools) with Maven,
adds the logging binding the release ships, and packs them with bin/ launchers and config/
(lab/kafka_dist/) into an archive with the official tarball's layout and name:

    kafka_2.13-<version>/libs/*.jar      the release's runtime jars, from Maven Central
    kafka_2.13-<version>/bin/*.sh        kafka-server-start.sh, kafka-storage.sh,
                                         kafka-topics.sh, kafka-configs.sh,
                                         kafka-metadata-quorum.sh, kafka-run-class.sh, ...
    kafka_2.13-<version>/config/         log4j2.yaml, tools-log4j2.yaml, server.properties

inventory/lab.py points kafka.archive at it: the kafka role installs it through its
local-archive path (uploaded, SHA-512 checked on the host, unpacked), as for any site that
brings its own copy of the release. The version is the kafka role's default; another one is
built for tests that move a cluster between releases (tests/integration/test_kafka_upgrade.py).

Jars are cached under lab/.state/kafka/ (ignored by git) and the archive is built
byte-for-byte reproducibly; its directory carries a hash of the recipe, so a second
`python -m lab up` finds it and downloads nothing, and a changed recipe builds a new one.

    python -m lab.kafka_release                  builds it when missing (python -m lab up too)
    python -m lab.kafka_release --version 4.3.1  another release, the same way
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from lab.engine import LabError
from lab.secrets import STATE_DIR
from roles.kafka.archive import sha512_of
from roles.spec import KafkaSpec
from roles.spec.kafka import JMX_AGENT_SHA512, JMX_AGENT_VERSION

RECIPE_DIR = Path(__file__).resolve().parent / "kafka_dist"
VERSION: str = KafkaSpec.model_fields["version"].default
SCALA: str = KafkaSpec.model_fields["scala_version"].default
# Kafka's published POMs leave out the slf4j binding its release puts in libs/ (without it
# the broker logs nothing); it is taken at the version of the log4j-core Maven resolved.
LOGGING_BINDING = "org.apache.logging.log4j:log4j-slf4j-impl"
# Part of the recipe hash: bump it when build() changes the bytes it writes.
BUILD_FORMAT = 1
KAFKA_STATE = STATE_DIR / "kafka"
MAVEN_REPOSITORY = STATE_DIR / "m2"


def top_dir(version: str = VERSION) -> str:
    """The archive's top directory, as in Apache's tarball: kafka_<scala>-<version>."""
    return f"kafka_{SCALA}-{version}"


def artifacts(version: str = VERSION) -> tuple[str, ...]:
    """What libs/ holds: the runtime classpath of these artifacts, as Maven resolves it."""
    return (f"org.apache.kafka:kafka_{SCALA}:{version}", f"org.apache.kafka:kafka-tools:{version}")


def recipe_hash(version: str = VERSION) -> str:
    recipe = f"{BUILD_FORMAT} {top_dir(version)} {artifacts(version)} {LOGGING_BINDING}\n"
    digest = hashlib.sha256(recipe.encode())
    for path in sorted(p for p in RECIPE_DIR.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(RECIPE_DIR).as_posix()} {_mode(path):o}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def archive_path(version: str = VERSION) -> Path:
    """Where the archive is (or will be): what inventory/lab.py sets kafka.archive to."""
    return KAFKA_STATE / recipe_hash(version) / f"{top_dir(version)}.tgz"


def libs_dir(version: str = VERSION) -> Path:
    return KAFKA_STATE / f"libs-{top_dir(version)}"


def pom(artifacts: tuple[str, ...]) -> str:
    """A throwaway project whose dependencies are `artifacts` (group:artifact:version)."""
    dependencies = "".join(
        f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>"
        for group, artifact, version in (a.split(":") for a in artifacts)
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>timestack.lab</groupId><artifactId>kafka-release-libs</artifactId>"
        f"<version>{VERSION}</version><packaging>pom</packaging>"
        f"<dependencies>{dependencies}</dependencies></project>\n"
    )


def log4j_version(jars: list[str], version: str = VERSION) -> str:
    """The version of the log4j-core jar among `jars` (file names)."""
    for name in jars:
        match = re.fullmatch(r"log4j-core-(\d[\w.-]*)\.jar", name)
        if match:
            return match[1]
    raise LabError(f"no log4j-core among the resolved jars of {top_dir(version)}: {sorted(jars)}")


def _maven(work: Path, *goal: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LabError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    command = [mvn, "-B", "-q", f"-Dmaven.repo.local={MAVEN_REPOSITORY}", "-f", "pom.xml", *goal]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"{' '.join(command)} failed:\n{(result.stdout + result.stderr)[-3000:]}")


def resolve_jars(version: str = VERSION) -> Path:
    """libs/ of the release, resolved from Maven Central once and kept in lab/.state/."""
    target = libs_dir(version)
    if target.is_dir():
        return target
    work = KAFKA_STATE / f"maven-{top_dir(version)}"
    partial = work / "libs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "pom.xml").write_text(pom(artifacts(version)))
    print(f"lab: resolving the runtime jars of Apache Kafka {version} from Maven Central")
    _maven(work, "dependency:copy-dependencies", "-DincludeScope=runtime",
           f"-DoutputDirectory={partial}")  # fmt: skip
    resolved = [p.name for p in partial.iterdir()]
    binding = f"{LOGGING_BINDING}:{log4j_version(resolved, version)}"
    _maven(work, "dependency:copy", f"-Dartifact={binding}", f"-DoutputDirectory={partial}")
    partial.replace(target)
    shutil.rmtree(work)
    return target


def _mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & 0o111 else 0o644


def _add(tar: tarfile.TarFile, top: str, name: str, data: bytes | None, mode: int) -> None:
    """A file (data) or directory (None) under `top`, owned by root, without a timestamp."""
    info = tarfile.TarInfo(f"{top}/{name}".rstrip("/"))
    info.mode, info.mtime, info.uid, info.gid = mode, 0, 0, 0
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def build(libs: Path, target: Path, version: str = VERSION) -> None:
    """The archive from `libs` (jars) and RECIPE_DIR (bin/, config/): same inputs, same bytes."""
    jars = sorted(p for p in libs.iterdir() if p.suffix == ".jar")
    top = top_dir(version)
    if not any(p.name == f"{top}.jar" for p in jars):
        raise LabError(f"{libs} has no {top}.jar; remove it to resolve again")
    recipe = sorted(p for p in RECIPE_DIR.rglob("*") if p.is_file())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for directory in ("", "bin/", "config/", "libs/"):
            _add(tar, top, directory, None, 0o755)
        for path in recipe:
            _add(tar, top, path.relative_to(RECIPE_DIR).as_posix(), path.read_bytes(), _mode(path))
        for jar in jars:
            _add(tar, top, f"libs/{jar.name}", jar.read_bytes(), 0o644)
    partial.replace(target)


def ensure_kafka_archive(version: str = VERSION) -> Path:
    """The release archive, assembled when missing (no download when it is there)."""
    target = archive_path(version)
    if not target.exists():
        build(resolve_jars(version), target, version)
        print(f"lab: assembled {target}")
        for stale in KAFKA_STATE.glob(f"*/{target.name}"):
            if stale != target:
                shutil.rmtree(stale.parent)  # an older recipe: no inventory points at it
    return target


JMX_AGENT = f"io.prometheus.jmx:jmx_prometheus_javaagent:{JMX_AGENT_VERSION}"


def jmx_agent_path() -> Path:
    """The Prometheus JMX exporter's agent jar: what inventory/lab.py sets
    kafka.jmx_exporter.jar to (uploaded and checked like the release archive)."""
    return KAFKA_STATE / "jmx" / f"jmx_prometheus_javaagent-{JMX_AGENT_VERSION}.jar"


def ensure_jmx_agent() -> Path:
    """The agent jar, copied from Maven Central once, and refused unless it has the SHA-512
    the kafka role pins for the default version (production downloads the same file)."""
    target = jmx_agent_path()
    if not target.is_file():
        work = KAFKA_STATE / "maven-jmx"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "pom.xml").write_text(pom(()))
        print(f"lab: fetching {JMX_AGENT} from Maven Central")
        _maven(work, "dependency:copy", f"-Dartifact={JMX_AGENT}", f"-DoutputDirectory={work}")
        target.parent.mkdir(parents=True, exist_ok=True)
        (work / target.name).replace(target)
        shutil.rmtree(work)
    if sha512_of(target) != JMX_AGENT_SHA512:
        raise LabError(
            f"{target} has SHA-512 {sha512_of(target)}, not the one roles/spec/kafka.py pins "
            f"for {JMX_AGENT}; remove it to fetch it again"
        )
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m lab.kafka_release", description=__doc__)
    parser.add_argument("--version", default=VERSION, help=f"Kafka release (default {VERSION})")
    version = parser.parse_args().version
    try:
        ensure_jmx_agent()
        path = ensure_kafka_archive(version)
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        sys.exit(1)
    print(path)
