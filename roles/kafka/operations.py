"""Operations of the kafka role: each reads a fact and yields commands only for what differs,
else host.noop — so `--dry` shows exactly what a run would change."""

from __future__ import annotations

import shlex
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from io import BytesIO

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation

from roles import kafka_clients
from roles.kafka import config, features, principals
from roles.kafka.archive import Archive, download_script, verify_and_move
from roles.kafka.config import Storage
from roles.kafka.facts import (
    ArchiveInCache,
    ClusterMetadata,
    FeaturesRecord,
    InstalledRelease,
    KafkaAccess,
    KafkaTopics,
    MetaProperties,
    PrincipalRecords,
)
from roles.kafka.topics import RefusedChanges, plan, tool_commands
from roles.once import read_once
from roles.spec import KafkaTopic
from roles.staging import staged_upload

Commands = Generator[StringCommand | FileUploadCommand, None, None]


@operation()
def archive_in_cache(archive: Archive) -> Commands:
    """The release archive in ARCHIVE_CACHE, checked against its SHA-512 before it counts."""
    where = {"path": archive.cached_path, "record": archive.record_path}
    cached = read_once(ArchiveInCache, **where)
    # Pinned (or computed from the local file): the file must have exactly that checksum.
    # Published by Apache: the file must still match what it was verified against.
    expected = archive.sha512 or cached.verified
    if cached.sha512 is not None and cached.sha512 == expected:
        host.noop(f"{archive.cached_path} is in place with the expected SHA-512")
        return
    if archive.local:
        part = f"{archive.cached_path}.part"
        yield staged_upload(archive.source, part)
        yield StringCommand(f"want={archive.sha512} && " + verify_and_move(part, archive))
    else:
        yield StringCommand(download_script(archive))


@operation()
def release_unpacked(archive: str, directory: str) -> Commands:
    """Unpack the cached archive into `directory` unless it came from this very archive."""
    cached = read_once(ArchiveInCache, path=archive, record=f"{archive}.sha512")
    installed = read_once(InstalledRelease, directory=directory)
    if installed is not None and installed == cached.sha512:
        host.noop(f"{directory} was unpacked from this archive")
        return
    new, marker = f"{directory}.timestack-new", f"{directory}/{config.INSTALLED_MARKER}"
    q = shlex.quote
    # Unpack beside, then swap: a failed unpack never leaves a half-installed release.
    yield StringCommand(
        f"rm -rf {q(new)} && mkdir -p {q(new)} && "
        f"tar -xzf {q(archive)} -C {q(new)} --strip-components=1 --no-same-owner && "
        f"sha512sum {q(archive)} | cut -d' ' -f1 > {q(new)}/{config.INSTALLED_MARKER} && "
        f"rm -rf {q(directory)} && mv {q(new)} {q(directory)} && test -s {q(marker)}"
    )


@operation()
def storage_formatted(
    kafka_home: str, log_dir: str, data_dirs: Sequence[str], storage: Storage, version: str
) -> Commands:
    """`kafka-storage.sh format` once per data dir; a directory formatted for another cluster
    or node is an error, never a reformat (that would drop its data). A fresh cluster starts
    at the release's feature levels: recorded unless a record is there already."""
    found = read_once(MetaProperties, directories=tuple(data_dirs))
    problems = []
    for directory in data_dirs:
        meta = found.get(directory)
        if meta is None:
            continue
        if meta.get("cluster.id") != storage.cluster_id:
            problems.append(
                f"{host.name}: kafka.cluster_id: {directory}/meta.properties has cluster.id "
                f"{meta.get('cluster.id')}, this cluster's is {storage.cluster_id}. Timestack "
                "never reformats a data directory (its data would be lost): if this broker "
                f"belongs to that cluster, set kafka.cluster_id to {meta.get('cluster.id')} "
                "(a derived id changes when group kafka's host names change: pin it before "
                "adding or renaming brokers); if the data is really unwanted, move the "
                "directory away yourself"
            )
        if meta.get("node.id") != str(storage.node_id):
            problems.append(
                f"{host.name}: kafka.node_id: {directory}/meta.properties has node.id "
                f"{meta.get('node.id')}, host data gives {storage.node_id}; set kafka.node_id "
                f"to {meta.get('node.id')} (node ids follow inventory order unless set)"
            )
    if problems:
        raise OperationError("\n".join(problems))
    missing = [directory for directory in data_dirs if found.get(directory) is None]
    if not missing:
        host.noop(f"storage formatted for cluster {storage.cluster_id}, node {storage.node_id}")
        return
    tool = shlex.quote(f"{kafka_home}/bin/kafka-storage.sh")
    yield StringCommand(
        f"runuser -u {config.USER} -- env LOG_DIR={shlex.quote(log_dir)} {tool} format "
        f"--cluster-id {shlex.quote(storage.cluster_id)} "
        f"--config {shlex.quote(config.SERVER_PROPERTIES)} --ignore-formatted"
    )
    record = shlex.quote(features.RECORD)
    yield StringCommand(
        f"[ -f {record} ] || printf %s {shlex.quote(features.record_text(version))} > {record}"
    )


@dataclass(frozen=True)
class Health:
    """What `kafka_admin.py health` checks for one broker: it is registered, the quorum has
    exactly `voters` with this node caught up, and no partition is under-replicated or
    offline (see admin_tool.health_problems)."""

    name: str  # the inventory name, in every message
    bootstrap: str
    kafka_home: str
    node_id: int
    voters: tuple[int, ...]
    # False: `bootstrap` is a migration's PLAINTEXT listener, reached without the host's
    # client configuration (which is for the TLS listeners by then).
    client_configs: bool = True

    def admin_tool(self, command: str) -> list[str]:
        """`kafka_admin.py <command>` reaching this broker as the host (its certificate)."""
        configs = ["--client-config", kafka_clients.ADMIN_CLIENT,
                   "--command-config", kafka_clients.ADMIN_PROPERTIES]  # fmt: skip
        return ["python3", config.ADMIN_SCRIPT, command,
                "--bootstrap", shlex.quote(self.bootstrap),
                "--kafka-home", shlex.quote(self.kafka_home),
                *(configs if self.client_configs else []),
                "--name", shlex.quote(self.name)]  # fmt: skip

    def wait(self, timeout: int, when: str, unless_down: bool = False) -> StringCommand:
        return StringCommand(
            *self.admin_tool("health"),
            "--node-id",
            str(self.node_id),
            "--voters",
            ",".join(map(str, self.voters)),
            "--when",
            shlex.quote(when),
            "--timeout",
            str(timeout),
            *(["--unless-down"] if unless_down else []),
        )


@operation()
def restarted(
    health: Health, because: Sequence[str], timeout: int, precheck_timeout: int
) -> Commands:
    """Restart the broker when `because` names a change it reads, then wait until it is back
    in a healthy cluster. Called with `_serial`, so brokers restart one after another.
    pyinfra goes on to the next host even when this one failed, so each restart first checks
    that the cluster is healthy: after a broker that did not come back, no running broker
    restarts. A broker that is down already is restarted without that check: it takes no
    copy away, and a fixed configuration must reach it."""
    if not because:
        host.noop("the broker runs with the current configuration and release")
        return
    yield health.wait(
        precheck_timeout, "before its restart, so it was not restarted", unless_down=True
    )
    yield StringCommand("systemctl", "restart", config.UNIT)
    yield health.wait(timeout, f"after its restart for {', '.join(because)}")


@operation()
def cluster_healthy(health: Health, timeout: int) -> Commands:
    """After a start: wait until the cluster is healthy (all brokers registered, so topics
    get every replica). A cheap metadata request decides whether to wait at all."""
    metadata = host.get_fact(ClusterMetadata, bootstrap=health.bootstrap)
    if metadata.healthy(health.voters):
        host.noop(f"brokers {list(metadata.brokers)} registered, no under-replicated partition")
        return
    yield health.wait(timeout, "after its start")


def recorded_line() -> tuple[int, int] | None:
    """The release line this broker's record says the cluster is finalized to: read once for
    the downgrade check and the finalization (again only after an operation changed the
    host, e.g. the first format writing it)."""
    return features.parse_record(read_once(FeaturesRecord, path=features.RECORD))


@operation()
def features_finalized(health: Health, version: str, log_dir: str, timeout: int) -> Commands:
    """Raise the cluster's finalized feature levels to this release's, kraft.version apart
    (see roles/kafka/features.py), once the cluster is healthy; then record the release line.
    Called with `_serial` after the rolling restart: every broker has run it by then, and
    Kafka itself refuses a level a registered broker does not support. The first broker
    raises the levels, the others find nothing below and record it; a no-op run reads only
    the record."""
    line = features.release_line(version)
    if recorded_line() == line:
        host.noop(f"feature levels finalized to release {features.line_text(line)}")
        return
    yield health.wait(timeout, "before finalizing the feature levels, so they were not")
    yield StringCommand("env", f"LOG_DIR={shlex.quote(log_dir)}", *health.admin_tool("features"),
                        "--hold", ",".join(features.HELD), "--apply")  # fmt: skip
    yield staged_upload(BytesIO(features.record_text(version).encode()), features.RECORD)
    yield StringCommand("chmod", "644", shlex.quote(features.RECORD))


def _before_rolls(plaintext_before_rolls: str | None) -> str | None:
    """The PLAINTEXT listener while a migration's first deploy prepares: its rolls open the
    TLS listeners only when it executes, so the cluster answers there until then."""
    return None if state.is_executing else plaintext_before_rolls


@operation()
def topics(
    bootstrap: str,
    kafka_home: str,
    log_dir: str,
    wanted: Sequence[KafkaTopic],
    plaintext_before_rolls: str | None = None,
) -> Commands:
    """Create, reconfigure, grow and delete topics to match host data (see topics.plan), with
    the release's kafka-topics.sh and kafka-configs.sh: a JVM starts only for a change."""
    early = _before_rolls(plaintext_before_rolls)
    asked, client_config = (early, "") if early else (bootstrap, kafka_clients.ADMIN_CLIENT)
    described = host.get_fact(KafkaTopics, bootstrap=asked, client_config=client_config)
    if described.status == "unreachable":
        raise OperationError(
            f"{host.name}: Kafka at {asked} did not answer ({described.error}); "
            f"see `journalctl -u {config.UNIT}`"
        )
    try:
        pending = plan(described.topics, wanted)
    except RefusedChanges as refused:
        raise OperationError(refused.report(host.name)) from None
    if pending.empty:
        host.noop(f"{len(wanted)} declared topics match")
        return
    for command in tool_commands(pending, kafka_home, bootstrap, kafka_clients.ADMIN_PROPERTIES):
        yield StringCommand("env", f"LOG_DIR={shlex.quote(log_dir)}", *map(shlex.quote, command))


def _tool(kafka_home: str, name: str, bootstrap: str) -> list[str]:
    return [f"{kafka_home}/bin/{name}", "--bootstrap-server", bootstrap,
            "--command-config", kafka_clients.ADMIN_PROPERTIES]  # fmt: skip


@operation()
def access_control(
    bootstrap: str,
    kafka_home: str,
    log_dir: str,
    wanted: Sequence[principals.Principal],
    salt: str,
    plaintext_before_rolls: str | None = None,
) -> Commands:
    """SCRAM credentials and ACLs as host data and Timestack's own clients want them (see
    roles/kafka/principals.py): passwords set from a root-only file that is removed again,
    principals Timestack recorded but no longer wants removed with their ACLs, a record of
    each password's fingerprint written once it is set."""
    records = host.get_fact(PrincipalRecords, directory=principals.RECORDS_DIR)
    applied = principals.applied_record(wanted, salt)
    if records.applied == principals.record_sha1(applied):
        host.noop(f"{len(wanted)} principals and their ACLs as last applied")
        return
    if _before_rolls(plaintext_before_rolls) is not None:
        # No authorizer before the rolls, so no ACL to list (nor SCRAM user Timestack made).
        access = principals.Access("ok")
    else:
        access = host.get_fact(
            KafkaAccess, bootstrap=bootstrap, kafka_home=kafka_home, log_dir=log_dir
        )
    if access.status == "unreachable":
        raise OperationError(
            f"{host.name}: Kafka at {bootstrap} did not list users and ACLs ({access.error}); "
            f"see `journalctl -u {config.UNIT}`"
        )
    pending = principals.plan(access, wanted, records.fingerprints, salt)
    q, env = shlex.quote, f"LOG_DIR={shlex.quote(log_dir)}"
    configs = _tool(kafka_home, "kafka-configs.sh", bootstrap)
    yield StringCommand("install", "-d", "-m", "0700", principals.RECORDS_DIR)
    by_name = {p.name: p for p in wanted}
    for name, _why in pending.set_password:
        yield from _set_password(by_name[name], configs, env, salt)
    for name in pending.remove_users:
        yield StringCommand("env", env, *map(q, principals.remove_user_command(name, configs)))
    for command in principals.acl_commands(pending, _tool(kafka_home, "kafka-acls.sh", bootstrap)):
        yield StringCommand("env", env, *map(q, command))
    for name in pending.forget:
        yield StringCommand("rm", "-f", q(f"{principals.RECORDS_DIR}/{name}.fingerprint"))
    # Last: a run that failed above leaves the old record, so the next run reads again.
    yield staged_upload(BytesIO(applied.encode()), principals.APPLIED_RECORD)
    yield StringCommand("chmod", "600", q(principals.APPLIED_RECORD))


def _set_password(
    principal: principals.Principal, configs: Sequence[str], env: str, salt: str
) -> Commands:
    """Upload the credential file into the root-only records directory, set it, remove it
    (also on failure), then write the fingerprint record. The tool's output is shown
    without any line naming a password (a parse error would echo the file's line)."""
    q = shlex.quote
    credential = f"{principals.RECORDS_DIR}/.{principal.name}.credential"
    record = f"{principals.RECORDS_DIR}/{principal.name}.fingerprint"
    yield staged_upload(
        BytesIO(principals.credential_file(principal.password).encode()), credential
    )
    yield StringCommand("chmod", "600", q(credential))
    command = " ".join(map(q, principals.set_password_command(principal.name, credential, configs)))
    yield StringCommand(
        f"out=$(env {env} {command} 2>&1); rc=$?; rm -f {q(credential)}; "
        f"if [ $rc -ne 0 ]; then printf '%s\\n' \"$out\" | grep -iv password >&2; fi; exit $rc"
    )
    fingerprint = principals.fingerprint(principal.password, f"{salt}:{principal.name}")
    yield staged_upload(BytesIO(fingerprint.encode()), record)
    yield StringCommand("chmod", "600", q(record))
