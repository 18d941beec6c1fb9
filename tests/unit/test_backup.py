"""The backup role without hosts: info parsing, pgbackrest.conf, timers, certificates, drill."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from roles import pki
from roles.backup import config, drill, info
from roles.hostdata import deep_merge
from roles.spec import HostInput, HostSpec, validate_inventory
from roles.templating import render

DB_DATA: dict[str, Any] = {
    "postgres": {
        "roles": [{"name": "owner", "login": False}],
        "databases": [{"name": "telemetry", "owner": "owner"}],
    }
}


def lab(db_backup: dict[str, Any] | None = None, repo: bool = True) -> dict[str, HostSpec]:
    hosts = [
        HostInput(
            "@docker/db1",
            frozenset({"timescaledb"}),
            deep_merge(DB_DATA, {"backup": db_backup or {}}),
        )
    ]
    if repo:
        hosts.append(HostInput("@docker/repo1", frozenset({"pgbackrest_repo"}), {}))
    return validate_inventory(hosts)


def options(conf: config.Conf, section: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in conf[section]:
        found.setdefault(key, []).append(value)
    return found


# --- info JSON -------------------------------------------------------------------------

INFO = [
    {
        "name": "main",
        "status": {"code": 0, "message": "ok", "lock": {"backup": {"held": False}}},
        "archive": [
            {"id": "17-1", "min": "000000010000000000000002", "max": "000000010000000000000009"}
        ],
        "backup": [
            {
                "label": "20261122-010000F",
                "type": "full",
                "timestamp": {"start": 1795482000, "stop": 1795482060},
                "info": {"size": 41000000, "repository": {"size": 4600000, "delta": 4600000}},
                "error": False,
            },
            {
                "label": "20261122-010000F_20261123-010000D",
                "type": "diff",
                "timestamp": {"start": 1795568400, "stop": 1795568410},
                "info": {"size": 41000000, "repository": {"size": 4700000, "delta": 90000}},
                "error": False,
            },
        ],
    },
    {"name": "fresh", "status": {"code": 2, "message": "no valid backups"}, "archive": []},
    {"name": "gone", "status": {"code": 1, "message": "missing stanza path"}},
]


def test_info_parses_last_full_diff_status_and_wal_range() -> None:
    stanzas = info.parse(json.dumps(INFO))
    main = stanzas["main"]
    assert main.ok and main.exists
    assert main.last_full is not None and main.last_full.label == "20261122-010000F"
    assert main.last_full.stopped == datetime.fromtimestamp(1795482060, UTC)
    assert main.last_diff is not None and main.last_diff.repo_bytes == 90000
    assert main.last() == main.last_diff
    assert (main.archive_min, main.archive_max) == (
        "000000010000000000000002",
        "000000010000000000000009",
    )
    assert "full 20261122-010000F" in info.summary(main)


def test_info_status_codes_tell_whether_stanza_create_is_needed() -> None:
    stanzas = info.parse(json.dumps(INFO))
    assert stanzas["fresh"].exists and not stanzas["fresh"].ok
    assert stanzas["fresh"].last_full is None and stanzas["fresh"].archive_max is None
    assert not stanzas["gone"].exists


def test_info_ignores_failed_backups_and_rejects_garbage() -> None:
    broken = json.loads(json.dumps(INFO))
    broken[0]["backup"][1]["error"] = True
    assert info.parse(json.dumps(broken))["main"].last() == info.parse(json.dumps(INFO))[
        "main"
    ].last("full")
    with pytest.raises(info.InfoParseError, match="not JSON"):
        info.parse("ERROR: [056]: unable to find primary cluster")
    with pytest.raises(info.InfoParseError, match="lacks"):
        info.parse(json.dumps([{"name": "x"}]))


# --- pgbackrest.conf -------------------------------------------------------------------


def test_database_host_with_repository_host_talks_tls_both_ways() -> None:
    specs = lab()
    db, repo = specs["@docker/db1"], specs["@docker/repo1"]
    assert db.backup.repo_host == "@docker/repo1"  # filled in: the only repository host
    conf = config.database_conf(db, config.repository_holder(db, specs), cpus=8)
    glob = options(conf, "global")
    assert glob["repo1-host"] == ["repo1"] and glob["repo1-host-type"] == ["tls"]
    assert glob["repo1-host-key-file"] == [config.TLS_KEY]
    assert glob["tls-server-auth"] == ["repo1=main"]  # only the repository host, this stanza
    assert glob["archive-async"] == ["y"] and glob["spool-path"] == [config.SPOOL_PATH]
    assert glob["process-max"] == ["4"]
    assert "repo1-retention-full" not in glob  # retention is the repository host's business
    assert options(conf, "main")["pg1-path"] == ["/var/lib/postgresql/17/main"]
    assert config.layout(db, specs.values()) == config.Layout(
        True, False, False, True, "postgres", ("main",)
    )
    assert config.layout(repo, specs.values()).runs_backups


def test_repository_host_lists_every_database_host_of_a_stanza() -> None:
    hosts = [HostInput(f"@docker/db{i}", frozenset({"timescaledb"}), DB_DATA) for i in (1, 2)] + [
        HostInput(
            "@docker/repo1",
            frozenset({"pgbackrest_repo"}),
            {"backup": {"retention_full": 4, "compress_type": "lz4"}},
        )
    ]
    specs = validate_inventory(hosts)
    repo = specs["@docker/repo1"]
    served = config.clients(repo, specs.values())
    conf = config.repository_conf(repo, served, cpus=2)
    glob, main = options(conf, "global"), options(conf, "main")
    assert glob["tls-server-auth"] == ["db1=main", "db2=main"]
    assert glob["repo1-retention-full"] == ["4"] and glob["compress-type"] == ["lz4"]
    assert glob["backup-standby"] == ["n"] and glob["process-max"] == ["1"]
    assert main["pg1-host"] == ["db1"] and main["pg2-host"] == ["db2"]
    assert main["pg2-host-type"] == ["tls"]
    # The database hosts take compression from the repository host, so both sides agree.
    db_conf = config.database_conf(specs["@docker/db1"], repo, cpus=2)
    assert options(db_conf, "global")["compress-type"] == ["lz4"]
    text = render("backup/pgbackrest.conf.j2", role="repository host", conf=conf)
    assert text.startswith("# managed by Timestack")
    assert "\n[main]\npg1-host=db1\n" in text
    assert text.count("tls-server-auth=") == 2


def test_local_repository_has_retention_and_no_tls() -> None:
    specs = lab({"repo_type": "posix_local", "retention_diff": 3}, repo=False)
    db = specs["@docker/db1"]
    glob = options(config.database_conf(db, db, cpus=4), "global")
    assert glob["repo1-path"] == ["/var/lib/pgbackrest"]
    assert glob["repo1-retention-diff"] == ["3"]
    assert not any(key.startswith(("tls-", "repo1-host")) for key in glob)
    lay = config.layout(db, specs.values())
    assert lay.runs_backups and not lay.tls_server


def test_s3_repository_carries_keys_only_in_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_KEY", "AKIAEXAMPLE")
    monkeypatch.setenv("S3_SECRET", "s3cr3t/value")
    s3 = {"bucket": "ts-backups", "region": "eu-central-1", "key_env": "S3_KEY"}
    specs = lab({"repo_type": "s3", "s3": {**s3, "secret_env": "S3_SECRET"}}, repo=False)
    db = specs["@docker/db1"]
    glob = options(config.database_conf(db, db, cpus=2), "global")
    assert glob["repo1-type"] == ["s3"]
    assert glob["repo1-s3-endpoint"] == ["s3.eu-central-1.amazonaws.com"]
    assert glob["repo1-s3-key-secret"] == ["s3cr3t/value"]
    for command in (
        config.pgbackrest("postgres", "main", "check"),
        config.archive_settings(db.backup)["archive_command"],
    ):
        assert "s3cr3t" not in command


def test_archive_settings_and_process_max() -> None:
    settings = config.archive_settings(lab()["@docker/db1"].backup)
    assert settings["archive_command"] == "/usr/bin/pgbackrest --stanza=main archive-push %p"
    assert (settings["archive_mode"], settings["wal_level"]) == ("on", "replica")
    assert [config.process_max(n) for n in (1, 2, 8, 64)] == [1, 1, 4, 8]


# --- timers ----------------------------------------------------------------------------


def test_timers_run_where_the_repository_is_with_a_replica_guard() -> None:
    specs = lab({"schedule": {"incr": "*-*-* 13:00:00"}})
    db, repo = specs["@docker/db1"], specs["@docker/repo1"]
    assert config.timers(db, config.layout(db, specs.values())) == []
    timers = config.timers(repo, config.layout(repo, specs.values()))
    # The repository host's own schedule counts: incr is set on the database host only.
    assert [(t.unit, t.on_calendar) for t in timers] == [
        ("timestack-backup-main-full", "Sun *-*-* 01:00:00"),
        ("timestack-backup-main-diff", "Mon..Sat *-*-* 01:00:00"),
    ]
    service = render("backup/backup.service.j2", timer=timers[0], binary=config.BINARY)
    assert "User=pgbackrest" in service and "ExecCondition" not in service
    assert "ExecStart=/usr/bin/pgbackrest --stanza=main --type=full backup" in service
    timer = render("backup/backup.timer.j2", timer=timers[0])
    assert "OnCalendar=Sun *-*-* 01:00:00\nPersistent=true" in timer
    assert "WantedBy=timers.target" in timer


def test_local_timers_skip_unless_primary() -> None:
    specs = lab({"repo_type": "posix_local", "schedule": {"incr": "hourly"}}, repo=False)
    db = specs["@docker/db1"]
    timers = config.timers(db, config.layout(db, specs.values()))
    assert [t.type for t in timers] == ["full", "diff", "incr"]
    service = render("backup/backup.service.j2", timer=timers[2], binary=config.BINARY)
    assert "User=postgres" in service
    assert 'ExecCondition=/usr/bin/psql -XAtq -p 5432 -d postgres -c "SELECT 1 / (NOT ' in service


# --- certificates ----------------------------------------------------------------------


def test_host_certificate_subject_san_and_reuse(tmp_path: Path) -> None:
    first = pki.credentials(pki.Identity.of("ts-backup1"), tmp_path)
    cert = x509.load_pem_x509_certificate(first.cert)
    ca = x509.load_pem_x509_certificate(first.ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ts-backup1"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["ts-backup1"]
    assert pki.reissue_reason(cert, ca, pki.Identity.of("ts-backup1"), datetime.now(UTC)) is None
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "hosts" / "ts-backup1.key").stat().st_mode & 0o777 == 0o600
    assert pki.credentials(pki.Identity.of("ts-backup1"), tmp_path) == first  # idempotent


def test_certificate_reissue_reasons() -> None:
    now = datetime.now(UTC)
    ca_key, ca = pki.issue_ca(now)
    who = pki.Identity.of("10.0.0.5")
    _, cert = pki.issue_host(who, ca_key, ca, now)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert pki.reissue_reason(cert, ca, pki.Identity.of("10.0.0.6"), now) == "CN is not 10.0.0.6"
    later = now + timedelta(days=pki.HOST_DAYS - 10)
    assert pki.reissue_reason(cert, ca, who, later) is not None
    _, other_ca = pki.issue_ca(now)
    assert pki.reissue_reason(cert, other_ca, who, now) is not None
    # A name added in host data (tls.names) reissues; the renewal window is the host's.
    more = pki.Identity.of("10.0.0.5", "db.example.net")
    assert (
        pki.reissue_reason(cert, ca, more, now) == "subjectAltName is not 10.0.0.5, db.example.net"
    )
    in_60_days = now + timedelta(days=pki.HOST_DAYS - 60)
    assert pki.reissue_reason(cert, ca, who, in_60_days) is None
    assert pki.reissue_reason(cert, ca, who, in_60_days, timedelta(days=90)) is not None


def test_certificate_cn_defaults_to_the_container_name() -> None:
    specs = lab()
    assert config.address(specs["@docker/repo1"]) == "repo1"
    with_address = lab({"address": "db1.example.net"})
    assert config.address(with_address["@docker/db1"]) == "db1.example.net"


# --- restore drill ---------------------------------------------------------------------


def outcome(**changes: Any) -> drill.Outcome:
    base: dict[str, Any] = {
        "before_written": 1000,
        "after_written": 500,
        "before_restored": 1000,
        "after_restored": 0,
        "live_as_of_target": drill.Digest(2500, "abc"),
        "restored": drill.Digest(2500, "abc"),
    }
    return drill.Outcome(**{**base, **changes})


def test_drill_passes_only_when_restored_equals_live_as_of_target() -> None:
    assert outcome().problems() == []
    assert "RESULT: PASS: 0 rows lost, 0 post-target rows present" in drill.report(outcome(), {})
    late = outcome(after_restored=3, restored=drill.Digest(2503, "def"))
    assert len(late.problems()) == 3
    lost = outcome(before_restored=990, restored=drill.Digest(2490, "abc"))
    assert lost.rows_lost == 10
    assert "RESULT: FAIL (2 differences)" in drill.report(lost, {"host": "db1"})
    assert outcome(restored=drill.Digest(2500, "xyz")).problems() == [
        "checksum: restored xyz, live as of target abc"
    ]


def test_scratch_cluster_never_archives_and_copies_recovery_minimums() -> None:
    live = {"max_connections": "200", "max_worker_processes": "27", "work_mem": "4MB"}
    text = drill.scratch_conf(55432, "/var/lib/postgresql/scratch", live)
    assert "archive_mode = 'off'" in text and "port = '55432'" in text
    assert "max_worker_processes = '27'" in text and "work_mem" not in text
    assert "listen_addresses = ''" in text
    assert "create_hypertable('drill.markers'" in drill.setup_sql(hypertable=True)
    assert "create_hypertable" not in drill.setup_sql(hypertable=False)
    assert drill.as_of_target("r1") == "NOT (run_id = 'r1' AND phase = 'after')"
