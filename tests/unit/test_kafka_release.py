"""lab/kafka_release.py: the lab's Apache Kafka archive, assembled from Maven Central jars,
and its bin/ launchers (lab/kafka_dist/), run here with a stand-in `java` that prints what
it was given."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from lab import kafka_release
from lab.engine import LabError
from lab.secrets import LAB_SECRET_ENV
from roles.spec import KafkaSpec
from tests.verify.targets import load_targets

BIN = kafka_release.RECIPE_DIR / "bin"
TOOLS = {
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "org.apache.kafka.tools.ConfigCommand",
    "kafka-acls.sh": "org.apache.kafka.tools.AclCommand",
    "kafka-metadata-quorum.sh": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-features.sh": "org.apache.kafka.tools.FeatureCommand",
    "kafka-console-producer.sh": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
}


def test_every_lab_broker_installs_the_release_as_a_local_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in LAB_SECRET_ENV:
        monkeypatch.setenv(name, "not-a-real-password")
    brokers = [t for t in load_targets("inventory/lab.py") if "kafka" in t.groups]
    assert [t.short_name for t in brokers] == ["ts-kafka1", "ts-kafka2", "ts-kafka3"]
    for target in brokers:
        kafka = target.spec.kafka
        assert kafka.archive == str(kafka_release.archive_path())
        assert kafka.archive_is_local and kafka.archive_sha512 is None  # computed at deploy
        assert kafka.version == KafkaSpec.model_fields["version"].default


def test_archive_has_the_release_name_in_a_directory_named_by_the_recipe() -> None:
    path = kafka_release.archive_path()
    assert path.name == f"kafka_2.13-{kafka_release.VERSION}.tgz"
    assert path.parent.name == kafka_release.recipe_hash()
    assert kafka_release.VERSION.startswith("4.")


def test_pom_asks_for_the_broker_and_the_tools_of_the_release() -> None:
    pom = kafka_release.pom(kafka_release.artifacts())
    for artifact in ("kafka_2.13", "kafka-tools"):
        assert (
            f"<artifactId>{artifact}</artifactId><version>{kafka_release.VERSION}</version>" in pom
        )


def test_logging_binding_follows_the_resolved_log4j_core() -> None:
    assert kafka_release.log4j_version(["log4j-api-2.25.5.jar", "log4j-core-2.25.5.jar"]) == (
        "2.25.5"
    )
    with pytest.raises(LabError, match="no log4j-core"):
        kafka_release.log4j_version(["log4j-api-2.25.5.jar"])


def fake_libs(tmp_path: Path) -> Path:
    libs = tmp_path / "libs"
    libs.mkdir()
    for name in (f"kafka_2.13-{kafka_release.VERSION}.jar", "kafka-clients.jar", "a b.jar"):
        (libs / name).write_bytes(name.encode())
    return libs


def test_build_has_the_tarball_layout_and_is_reproducible(tmp_path: Path) -> None:
    libs = fake_libs(tmp_path)
    first, second = tmp_path / "1.tgz", tmp_path / "2.tgz"
    kafka_release.build(libs, first)
    kafka_release.build(libs, second)
    digest = [hashlib.sha512(p.read_bytes()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = kafka_release.top_dir()
    for script in ("kafka-server-start.sh", "kafka-run-class.sh", *TOOLS):
        assert members[f"{top}/bin/{script}"].mode == 0o755, script
    for name in ("config/log4j2.yaml", "config/tools-log4j2.yaml", "config/server.properties"):
        assert members[f"{top}/{name}"].mode == 0o644
    assert {n for n in members if n.startswith(f"{top}/libs/")} == {
        f"{top}/libs/{p.name}" for p in libs.iterdir()
    }
    assert all(m.uid == 0 and m.mtime == 0 for m in members.values())


def test_build_refuses_jars_without_the_broker(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "kafka-clients.jar").write_bytes(b"x")
    with pytest.raises(LabError, match=r"no kafka_2\.13"):
        kafka_release.build(libs, tmp_path / "k.tgz")


@pytest.fixture
def unpacked(tmp_path: Path) -> Path:
    """The archive built from fake jars, unpacked, and a `java` that prints its arguments."""
    archive = tmp_path / "k.tgz"
    kafka_release.build(fake_libs(tmp_path), archive)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "opt", filter="data")
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    java.chmod(0o755)
    return tmp_path / "opt" / kafka_release.top_dir()


def run(home: Path, script: str, *args: str, **env: str) -> list[str]:
    jdk = home.parents[1] / "jdk"
    result = subprocess.run(
        [str(home / "bin" / script), *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "JAVA_HOME": str(jdk), **env},
    )
    return result.stdout.splitlines()


@pytest.mark.parametrize("script", sorted(TOOLS))
def test_tool_runs_its_class_with_every_jar_and_console_logging(
    unpacked: Path, script: str
) -> None:
    argv = run(unpacked, script, "--version")
    assert argv[-2:] == [TOOLS[script], "--version"]
    classpath = argv[argv.index("-cp") + 1].split(":")
    assert sorted(classpath) == sorted(str(p) for p in (unpacked / "libs").iterdir())
    assert f"-Dlog4j2.configurationFile={unpacked}/config/tools-log4j2.yaml" in argv
    assert "-Xmx256M" in argv


@pytest.mark.parametrize(
    ("tools_jar", "expected"),
    [("kafka-tools-4.3.1.jar", "kafka.admin.ConfigCommand"),
     ("kafka-tools-4.4.0.jar", "org.apache.kafka.tools.ConfigCommand")],
)  # fmt: skip
def test_configs_runs_the_config_command_of_the_release_it_is_in(
    unpacked: Path, tools_jar: str, expected: str
) -> None:
    """ConfigCommand moved from the broker's jar (kafka.admin) to kafka-tools in 4.4: the
    launcher runs the class the release has, as each release's own launcher does."""
    (unpacked / "libs" / tools_jar).write_bytes(b"x")
    assert run(unpacked, "kafka-configs.sh", "--version")[-2:] == [expected, "--version"]


def test_server_start_runs_kafka_with_the_units_heap_gc_log_and_server_logging(
    unpacked: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    argv = run(unpacked, "kafka-server-start.sh", "/etc/kafka/server.properties",
               KAFKA_HEAP_OPTS="-Xms1024m -Xmx1024m", LOG_DIR=str(logs))  # fmt: skip
    assert argv[-2:] == ["kafka.Kafka", "/etc/kafka/server.properties"]
    assert argv[:2] == ["-Xms1024m", "-Xmx1024m"]
    assert f"-Dkafka.logs.dir={logs}" in argv
    assert any(a.startswith(f"-Xlog:gc*:file={logs}/kafkaServer-gc.log") for a in argv)
    assert any(a.endswith("/config/log4j2.yaml") for a in argv)


def test_server_start_without_a_config_prints_usage(unpacked: Path) -> None:
    result = subprocess.run([str(unpacked / "bin" / "kafka-server-start.sh")],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 1 and "USAGE" in result.stdout


@pytest.mark.skipif(
    not kafka_release.libs_dir().is_dir(),
    reason="the release's jars are resolved by `python -m lab up` (needs Maven Central)",
)
def test_every_launcher_names_a_class_of_the_resolved_release() -> None:
    classes: set[str] = set()
    for jar in kafka_release.libs_dir().glob("kafka*.jar"):
        with zipfile.ZipFile(jar) as archive:
            classes |= {
                n[:-6].replace("/", ".") for n in archive.namelist() if n.endswith(".class")
            }
    for script, main in {**TOOLS, "kafka-server-start.sh": "kafka.Kafka"}.items():
        assert main in classes, f"{script}: {main} is in no jar of the release"
        assert main in (BIN / script).read_text()
    names = {p.name for p in kafka_release.libs_dir().iterdir()}
    assert f"kafka_2.13-{kafka_release.VERSION}.jar" in names
    assert any(n.startswith("log4j-slf4j-impl-") for n in names)  # or the broker logs nothing
