"""A deploy cut off anywhere converges on the next run, and no secret leaks on the way.

The lab's bare hosts (new containers from the lab image) get a full deploy that is killed three
times, SIGKILL to pyinfra's whole process group, as a crash or a lost terminal would:
early (the common role's base packages; the apt-get on the hosts runs on), during the
PostgreSQL packages (dpkg mid-flight, then killed on the host too, as a dropped SSH session
or a power cut does) and during the time-series SQL. Each run after a kill must get as far
as the next kill point, the last one must succeed, a further one must change nothing, and
the verify suite must pass. Every run prints its commands (-vv), and `--debug-operations`
runs first: no password, SCRAM verifier or TLS private key appears in any of it. On the
converged hosts, every file that holds one of them must be private to its service user.

It runs first of the integration tests (tests/integration/conftest.py) and replaces the
lab's first full deploy: it recreates ts-db1, ts-db2, ts-kafka1..3 and ts-backup1 and leaves them
deployed, so `first_deploy` then changes nothing. To develop without touching the shared
lab, point it at containers of your own (created or recreated by the test, removed by you):
`TIMESTACK_FRESH_TARGET=inventory/_dev_interrupt.py:tsdev-int-db1,tsdev-int-db2,tsdev-int-kafka1,
tsdev-int-kafka2,tsdev-int-kafka3,tsdev-int-backup1 pytest
tests/integration/test_interrupted_deploy.py` (the inventory holds the lab's host data for
those names).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from lab import HOSTS
from lab.access import DEPLOY_USER
from lab.engine import client
from lab.hosts import recreate
from lab.image import ensure_host_image
from lab.secrets import LAB_SECRET_ENV, lab_secrets
from roles.common import THP_UNIT
from roles.common.dpkg import PackageManagerState, parse_state, state_command
from roles.paths import SECRET_DIR
from roles.pgbouncer import config as pgbouncer_config
from roles.pki import pki_dir
from tests.integration import unprivileged_watch
from tests.integration.pyinfra_run import ROOT, DeployRun, Kill, run_pyinfra, stream_pyinfra
from tests.integration.schema_host import DbHost
from tests.verify.targets import Target, load_targets

FRESH_ENV = "TIMESTACK_FRESH_TARGET"
STARTING = r"Starting operation: "
BASE_PACKAGES_OP = STARTING + r"Common host settings \| Install base packages"
PG_PACKAGES_OP = STARTING + r"PostgreSQL \+ TimescaleDB \| Install PostgreSQL and TimescaleDB"
SCHEMA_OP = STARTING + r"Time-series schema \| \d\d-"
SCRAM_PREFIX = "SCRAM-SHA-256$"
# One run that hangs (a host waiting for a peer that failed) must not eat CI's time.
RUN_TIMEOUT = 900
# Where a leaked secret could rest on a host (not /proc, /sys: the kernel's views).
SCANNED = (
    *("/etc", "/var/lib", "/var/log", "/var/spool", "/opt"),
    *("/root", "/home", "/tmp", "/run", "/srv"),
)
SERVICE_USERS = frozenset({"postgres", "pgbackrest", "kafka", "prometheus", "timestack-ingest"})
# Host data keys whose string values are secrets; `*_env` ones name the variable holding one.
SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|jaas|private|key_env", re.I)


@dataclass(frozen=True)
class Fresh:
    inventory: str
    containers: tuple[str, ...]  # in the order of lab.HOSTS: databases, brokers, repository

    @property
    def db(self) -> str:
        return self.containers[0]


def fresh_target() -> Fresh:
    """TIMESTACK_FRESH_TARGET=<inventory>:<db>,<kafka>,<backup>, else the lab's hosts."""
    override = os.environ.get(FRESH_ENV)
    if not override:
        return Fresh("inventory/lab.py", tuple(host.name for host in HOSTS))
    inventory, _, names = override.partition(":")
    containers = tuple(names.split(","))
    assert len(containers) == len(HOSTS), f"{FRESH_ENV}: expected {len(HOSTS)} container names"
    return Fresh(inventory, containers)


def docker_exec(
    container: str, *command: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", "-i", container, *command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def package_state(container: str) -> PackageManagerState:
    return parse_state(docker_exec(container, "sh", "-c", state_command()).stdout.splitlines())


def dpkg_mid_run(container: str) -> bool:
    """dpkg is running and has left packages half done: killing it now interrupts it."""
    state = package_state(container)
    return bool(state.unfinished) and any(p.endswith(" dpkg") for p in state.busy)


@dataclass
class Interruption:
    point: str
    run: DeployRun
    after: str  # what the host showed once the run was killed


@dataclass
class Story:
    fresh: Fresh
    targets: list[Target]
    debug_operations: DeployRun
    interruptions: list[Interruption]
    final: DeployRun
    again: DeployRun
    ledger_total: int
    seconds: float
    # container -> what an unprivileged local user saw there through all those runs
    watched: dict[str, dict[str, Any]]

    @property
    def outputs(self) -> dict[str, str]:
        runs = {"--debug-operations": self.debug_operations.output}
        runs.update({i.point: i.run.output for i in self.interruptions})
        runs.update({"final run": self.final.output, "further run": self.again.output})
        return runs

    def db_host(self) -> DbHost:
        return db_host(self.fresh, self.targets)


def db_host(fresh: Fresh, targets: list[Target]) -> DbHost:
    pg = next(t for t in targets if t.short_name == fresh.db).spec.postgres
    return DbHost(fresh.inventory, fresh.db, pg.version, pg.cluster, "postgres")


def _recreate(fresh: Fresh) -> None:
    """New containers from the lab image, with the lab's options (ports only for the lab's
    own names: another container cannot publish the same ones)."""
    engine = client()
    image = ensure_host_image(engine)
    for host, name in zip(HOSTS, fresh.containers, strict=True):
        recreate(
            engine,
            host if host.name == name else dataclasses.replace(host, name=name, ports={}),
            image,
        )


def _ledger_rows(db: DbHost) -> int:
    """Rows in the schema ledger; 0 before the database or its ledger exist."""
    rows = db.psql(
        "SELECT CASE WHEN to_regclass('timestack.schema_migrations') IS NULL THEN 0 "
        "ELSE (SELECT count(*) FROM timestack.schema_migrations) END",
        database="telemetry",
        check=False,
    )
    return int(rows.strip() or 0)


@pytest.fixture(scope="module")
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Story:
    fresh = fresh_target()
    if not os.environ.get(FRESH_ENV):
        request.getfixturevalue("lab")  # builds the image and the Kafka archive if missing
    # Every run's whole output, kept as it ends, for whoever has to read why one failed.
    keep = tmp_path_factory.mktemp("interrupted-deploy")
    print(f"pyinfra's output of each run: {keep}")
    started = time.monotonic()
    _recreate(fresh)
    targets = load_targets(ROOT / fresh.inventory)
    db = db_host(fresh, targets)
    watchers = [
        unprivileged_watch.start(c, planted_destinations(targets)) for c in fresh.containers
    ]

    def deploy(label: str, kill: Kill | None = None) -> DeployRun:
        run = stream_pyinfra(fresh.inventory, "deploy.py", "-vv", kill=kill, timeout=RUN_TIMEOUT)
        (keep / f"{len(list(keep.iterdir()))}-{label}.txt").write_text(run.output)
        return run

    debug = run_pyinfra(fresh.inventory, "deploy.py", "--debug-operations")
    (keep / "0-debug-operations.txt").write_text(debug.output)
    assert debug.returncode == 0, debug.output[-4000:]

    early = deploy("early", Kill(BASE_PACKAGES_OP, 3))
    busy = "; ".join(f"{c}: {package_state(c).describe()}" for c in fresh.containers)
    interruptions = [Interruption("early: common role, base packages", early, busy)]

    packages = deploy(
        "packages",
        Kill(PG_PACKAGES_OP, ready=lambda: dpkg_mid_run(fresh.db), ready_within=240),
    )
    # pyinfra is gone; now the host loses the run too, as when SSH drops or the power fails.
    pids = [entry.split()[0] for entry in package_state(fresh.db).busy]
    if pids:
        docker_exec(fresh.db, "kill", "-KILL", *pids)
    time.sleep(1)
    after = package_state(fresh.db).describe()
    interruptions.append(Interruption("PostgreSQL packages, dpkg killed", packages, after))

    sql = deploy("sql", Kill(SCHEMA_OP, 4))
    time.sleep(3)  # the unit psql was running when pyinfra died finishes on the host
    applied = _ledger_rows(db)
    interruptions.append(Interruption("time-series SQL", sql, f"{applied} ledger rows"))

    final = deploy("final")
    again = deploy("further")
    seconds = time.monotonic() - started
    watched = {watcher.container: watcher.stop() for watcher in watchers}
    return Story(
        fresh, targets, debug, interruptions, final, again, _ledger_rows(db), seconds, watched
    )


def planted_destinations(targets: list[Target]) -> list[str]:
    """Uploads an attacker would most like to swap: role SQL (run as the superuser), the
    access rules of PostgreSQL and pgBouncer, a unit every host gets."""
    spec = next(t.spec for t in targets if "timescaledb" in t.groups)
    conf = f"/etc/postgresql/{spec.postgres.version}/{spec.postgres.cluster}"
    roles = [f"{SECRET_DIR}/role-{role.name}.sql" for role in spec.postgres.roles]
    return [*roles, f"{conf}/pg_hba.conf", pgbouncer_config.HBA, f"/etc/systemd/system/{THP_UNIT}"]


def test_each_run_after_a_kill_gets_to_the_next_kill_point(story: Story) -> None:
    report = [
        f"{i.point}: killed after {i.run.killed_after!r} at {i.run.seconds:.0f}s; host: {i.after}"
        for i in story.interruptions
    ]
    print("\n".join(report))
    for interruption in story.interruptions:
        run = interruption.run
        assert run.killed_after is not None, (
            f"{interruption.point}: the run never reached its kill point:\n{run.output[-4000:]}"
        )
        assert run.returncode == -9, f"{interruption.point}: exited {run.returncode} by itself"


def test_the_package_kill_left_dpkg_interrupted(story: Story) -> None:
    # The scenario the next run has to repair really happened: dpkg's own records say so.
    after = story.interruptions[1].after
    assert "packages left half done" in after or "journal" in after, after


def test_the_sql_kill_left_the_schema_half_applied(story: Story) -> None:
    applied = int(story.interruptions[2].after.split()[0])
    assert 0 < applied < story.ledger_total, (applied, story.ledger_total)


def test_the_run_after_the_last_kill_succeeds(story: Story) -> None:
    assert story.final.returncode == 0, story.final.output[-6000:]
    assert story.final.operations, "no results table in pyinfra's output"
    assert not story.final.errors


def test_a_further_deploy_changes_nothing(story: Story) -> None:
    print(f"whole story {story.seconds:.0f}s; further run {story.again.seconds:.0f}s")
    assert story.again.returncode == 0, story.again.output[-4000:]
    assert story.again.operations, "no results table in pyinfra's output"
    assert story.again.changed == {}, f"changed on a further deploy: {story.again.changed}"


def test_verify_suite_passes_on_the_converged_hosts(story: Story, tmp_path: Path) -> None:
    report = tmp_path / "verify.xml"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "tests/verify"),
            *("--inventory", story.fresh.inventory, f"--junitxml={report}"),
            *("-q", "-p", "no:cacheprovider"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("failures", "0")) == int(suite.get("errors", "0")) == 0
    assert int(suite.get("tests", "0")) >= 3 * 5, "too few checks ran against three hosts"


def host_data_secrets(targets: list[Target]) -> dict[str, str]:
    """Every secret the inventory hands the roles, by where it is: values under secret-looking
    keys, and the environment variables that `*_env` keys name (read as the roles read them),
    in the inventory's data and in the merged, validated host data (group defaults included)."""
    found: dict[str, str] = {}

    def walk(path: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                where = f"{path}.{key}"
                if isinstance(item, SecretStr):
                    item = item.get_secret_value()
                if not (SECRET_KEY.search(str(key)) and isinstance(item, str) and item):
                    walk(where, item)
                elif str(key).endswith("_env"):
                    if os.environ.get(item):
                        found[f"${item}"] = os.environ[item]
                else:
                    found[where] = item
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{path}[{index}]", item)

    for target in targets:
        walk(target.short_name, target.data)
        walk(target.short_name, target.spec.model_dump())
    return found


def tls_key_lines() -> dict[str, str]:
    """The base64 body lines of every private key on the control side (the CA's too), less
    a line that holds only public key bytes: those are in the certificates, public by design."""
    lines = {}
    for path in sorted(pki_dir().rglob("*.key")):
        text = path.read_bytes()
        key = serialization.load_pem_private_key(text, password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for number, line in enumerate(text.decode().splitlines()):
            if line and not line.startswith("-----") and base64.b64decode(line) not in public:
                lines[f"{path.relative_to(pki_dir())} line {number + 1}"] = line
    return lines


def role_verifiers(story: Story) -> dict[str, str]:
    """The stored SCRAM verifiers of the roles host data gives a password."""
    target = next(t for t in story.targets if t.short_name == story.fresh.db)
    names = [role.name for role in target.spec.postgres.roles if role.secret()]
    quoted = ",".join(f"'{name}'" for name in names)
    rows = story.db_host().rows(
        f"SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ({quoted})"
    )
    verifiers = {f"verifier of {name}": stored for name, stored in rows}
    assert len(verifiers) == len(names), "a role of host data has no stored password"
    assert all(v.startswith(SCRAM_PREFIX) for v in verifiers.values())
    return verifiers


@pytest.fixture(scope="module")
def needles(story: Story) -> dict[str, str]:
    passwords = host_data_secrets(story.targets)
    lab = lab_secrets()
    # Names only in messages: a failing assertion prints what it compares.
    unseen = [name for name in LAB_SECRET_ENV if f"${name}" not in passwords]
    assert not unseen, f"lab passwords the host data scan did not find: {unseen}"
    stale = {f"${name} (lab/.state)": lab[name] for name in lab if name not in LAB_SECRET_ENV}
    found = {**passwords, **stale, **tls_key_lines(), **role_verifiers(story)}
    assert all(len(value) >= 16 for value in found.values()), "a needle too short to be sure"
    return found


def test_an_unprivileged_user_learns_no_secret_while_deploys_run(
    story: Story, needles: dict[str, str]
) -> None:
    leaks = [
        f"{container}: {label} in {where}"
        for container, seen in story.watched.items()
        for label, secret in {**needles, "a SCRAM verifier": SCRAM_PREFIX}.items()
        for where, text in [("ps", "\n".join(seen["commands"])), *seen["read"].items()]
        if secret in text
    ]
    assert not leaks, f"an unprivileged user read secrets: {leaks}"
    listed = {
        c: seen["staging_listed"] for c, seen in story.watched.items() if seen["staging_listed"]
    }
    assert not listed, f"the deploy user's staging directory was readable: {listed}"
    sampled = {c: len(seen["commands"]) for c, seen in story.watched.items()}
    assert all(count > 50 for count in sampled.values()), f"too few processes seen: {sampled}"


def test_nothing_is_staged_in_tmp_and_nothing_planted_there_is_used(story: Story) -> None:
    deploy_uid = {c: int(docker_exec(c, "id", "-u", DEPLOY_USER).stdout) for c in story.watched}
    staged = {
        c: sorted(path for path, uid in seen["seen"].items() if uid == deploy_uid[c])
        for c, seen in story.watched.items()
    }
    assert not any(staged.values()), f"files the deploy user created in /tmp: {staged}"
    installed = [
        f"{container}: {path}"
        for container in story.fresh.containers
        for path in planted_destinations(story.targets)
        if "planted by an unprivileged user" in docker_exec(container, "cat", path).stdout
    ]
    assert not installed, f"planted files were installed: {installed}"
    planted_ran = story.db_host().psql(
        "SELECT count(*) FROM pg_class WHERE relname = 'planted_by_unprivileged'",
        database="telemetry",
    )
    assert planted_ran.strip() == "0", "SQL planted in /tmp ran as the superuser"


def test_no_secret_in_any_output(story: Story, needles: dict[str, str]) -> None:
    leaks = [
        f"{name}: {label}"
        for name, output in story.outputs.items()
        for label, secret in {**needles, "a SCRAM verifier": SCRAM_PREFIX}.items()
        if secret in output
    ]
    assert story.final.output.count(">>> ") > 100, "-vv did not print the commands"
    assert not leaks, f"secrets in pyinfra's output: {leaks}"


# Runs on the host with python3 (in the lab image and Debian's standard install). Reads
# {"needles": {label: value}, "roots": [...]} on stdin; prints what it found, never a value.
SCANNER = r"""
import json, os, stat, sys
request = json.load(sys.stdin)
needles = {label: value.encode() for label, value in request["needles"].items()}
overlap = max(len(v) for v in needles.values())
found, scanned = [], 0
for root in request["roots"]:
    for directory, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                labels, tail = set(), b""
                with open(path, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        window = tail + chunk
                        labels.update(l for l, v in needles.items() if v in window)
                        tail = window[-overlap:]
            except OSError:
                continue
            scanned += 1
            if labels:
                import grp, pwd
                found.append({
                    "path": path, "labels": sorted(labels),
                    "mode": oct(stat.S_IMODE(info.st_mode)),
                    "owner": pwd.getpwuid(info.st_uid).pw_name,
                    "group": grp.getgrgid(info.st_gid).gr_name,
                })
print(json.dumps({"scanned": scanned, "found": found}))
"""


def scan_host(container: str, needles: dict[str, str]) -> dict[str, Any]:
    request = json.dumps({"needles": needles, "roots": list(SCANNED)})
    result = docker_exec(container, "python3", "-c", SCANNER, stdin=request)
    assert result.returncode == 0, result.stderr[-2000:]
    scanned: dict[str, Any] = json.loads(result.stdout)
    return scanned


@pytest.fixture(scope="module")
def host_scan(story: Story, needles: dict[str, str]) -> Iterator[dict[str, dict[str, Any]]]:
    yield {container: scan_host(container, needles) for container in story.fresh.containers}


def test_secrets_on_the_hosts_are_private_to_their_service_user(
    host_scan: dict[str, dict[str, Any]],
) -> None:
    lines, exposed = [], []
    for container, scan in host_scan.items():
        lines.append(
            f"{container}: {scan['scanned']} files scanned, {len(scan['found'])} hold a secret"
        )
        for entry in scan["found"]:
            what = f"{container}:{entry['path']} {entry['mode']} {entry['owner']}:{entry['group']}"
            lines.append(f"  {what} ({', '.join(entry['labels'])})")
            private = entry["mode"] in ("0o600", "0o640")
            # root's own, or root's and readable by one service's group (a password file
            # the exporter reads but may not rewrite)
            owner_ok = entry["owner"] in SERVICE_USERS or (
                entry["owner"] == "root"
                and (entry["mode"] == "0o600" or entry["group"] in SERVICE_USERS)
            )
            if not (private and owner_ok):
                exposed.append(what)
    print("\n".join(lines))
    assert all(scan["scanned"] > 500 for scan in host_scan.values()), "too few files read"
    assert not exposed, "secrets in files others may read:\n" + "\n".join(exposed)


def holding(host_scan: dict[str, dict[str, Any]], secret: str) -> list[str]:
    """`container:path` of each scanned file that holds a secret whose label starts so."""
    return [
        f"{container}:{entry['path']}"
        for container, scan in host_scan.items()
        for entry in scan["found"]
        if any(label.startswith(secret) for label in entry["labels"])
    ]


def test_the_ca_key_never_leaves_the_control_machine(
    host_scan: dict[str, dict[str, Any]],
) -> None:
    assert not holding(host_scan, "ca.key")


# Where PostgreSQL itself keeps a role's verifier: pg_authid's heap (global/) and the WAL
# that recorded the change; anything else (statistics, logs) would hand it to more readers.
CATALOGUE_STORAGE = re.compile(r"/(global/\d+|pg_wal/[0-9A-F]{24})$")


def test_verifiers_rest_only_in_postgresql_catalogue_storage(
    host_scan: dict[str, dict[str, Any]],
) -> None:
    verifiers = holding(host_scan, "verifier of")
    assert verifiers, "the scan found no verifier at all, not even in pg_authid"
    elsewhere = [path for path in verifiers if not CATALOGUE_STORAGE.search(path)]
    assert not elsewhere, elsewhere
