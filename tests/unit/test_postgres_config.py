"""What the postgres role wants, computed without a host."""

from __future__ import annotations

import pytest

from roles.hardware import DetectedHardware
from roles.hostdata import deep_merge
from roles.postgres import config, scram
from roles.postgres.tuning import InvalidHardware
from roles.spec import HostInput, HostSpec, validate_inventory
from roles.templating import render

GIB, MIB = 1024**3, 1024**2


# Enough for a timescaledb host to validate alone: a local backup repository and the
# database the schema role is pointed at.
MINIMAL = {
    "backup": {"repo_type": "posix_local"},
    "postgres": {
        "roles": [{"name": "owner", "login": False}],
        "databases": [{"name": "telemetry", "owner": "owner"}],
    },
}


def host_spec(
    data: dict[str, object], groups: frozenset[str] = frozenset({"timescaledb"})
) -> HostSpec:
    return validate_inventory([HostInput("db1", groups, deep_merge(MINIMAL, data))])["db1"]


def detected(memory: int = 64 * GIB, cpus: int = 20, disk: str | None = "ssd") -> DetectedHardware:
    return DetectedHardware(memory, cpus, disk, "sda", None)  # type: ignore[arg-type]


def test_debian_source_uses_debians_timescaledb_and_no_extra_repos() -> None:
    pg = host_spec({"postgres": {"source": "debian", "postgis": True}}).postgres
    assert config.packages(pg) == [
        "postgresql-17",
        "postgresql-client-common",
        "postgresql-17-timescaledb",
        "postgresql-17-postgis-3",
    ]
    assert config.apt_sources(pg, "trixie") == []


def test_timescale_source_adds_pgdg_and_packagecloud_with_keyrings() -> None:
    pg = host_spec({"postgres": {"version": 16}}).postgres
    assert "timescaledb-2-postgresql-16" in config.packages(pg)
    sources = {s.name: s for s in config.apt_sources(pg, "bookworm")}
    assert sources["pgdg"].suite == "bookworm-pgdg"
    assert sources["timescaledb"].uri.startswith("https://packagecloud.io/timescale/")
    text = render("postgres/apt.sources.j2", source=sources["pgdg"])
    assert "Signed-By: /etc/apt/keyrings/pgdg.asc" in text
    assert "Suites: bookworm-pgdg" in text


def test_seed_box_standalone_gets_the_seed_figures() -> None:
    spec = host_spec({})
    wanted = config.desired_settings(spec, {"timescaledb"}, detected()).effective()
    assert wanted["shared_buffers"] == "16GB"
    assert wanted["effective_cache_size"] == "48GB"
    assert wanted["maintenance_work_mem"] == "2GB"
    assert wanted["random_page_cost"] == "1.1"


def test_co_located_kafka_and_pgbouncer_are_subtracted_first() -> None:
    spec = host_spec({"kafka": {"heap": "6GiB"}})
    groups = {"timescaledb", "kafka", "pgbouncer"}
    reserve = config.reservation(spec, groups, 64 * GIB)
    assert reserve.bytes == 6 * GIB + config.PGBOUNCER_RESERVE
    assert any("Kafka heap 6144MB" in reason for reason in reserve.reasons)
    wanted = config.desired_settings(spec, groups, detected()).effective()
    assert wanted["shared_buffers"] == "14832MB"  # (65536 - 6144 - 64) MB / 4


def test_explicit_reserve_replaces_the_computed_one() -> None:
    spec = host_spec({"postgres": {"tuning": {"reserve": "1GiB"}}})
    assert config.reservation(spec, {"timescaledb", "kafka"}, 64 * GIB).bytes == GIB


def test_host_data_overrides_detection() -> None:
    spec = host_spec({"postgres": {"tuning": {"memory": "8GiB", "cpus": 4, "disk": "hdd"}}})
    hw = config.hardware(spec, {"timescaledb"}, detected())
    assert (hw.memory_bytes, hw.cpus, hw.disk) == (8 * GIB, 4, "hdd")


def test_undetectable_disk_names_the_field_to_set() -> None:
    with pytest.raises(config.UndetectableDisk) as refused:
        config.hardware(host_spec({}), {"timescaledb"}, detected(disk=None))
    assert str(config.refusal("db1", refused.value)) == (
        "db1: postgres.tuning.disk: got nothing (not detected); "
        "expected set in host data to one of hdd, ssd, nvme"
    )


def test_a_reserve_beyond_the_memory_is_refused_in_host_data_terms() -> None:
    spec = host_spec({"postgres": {"tuning": {"reserve": "999GiB"}}})
    with pytest.raises(InvalidHardware) as refused:
        config.desired_settings(spec, {"timescaledb"}, detected(memory=24 * GIB))
    assert str(config.refusal("db1", refused.value)) == (
        "db1: postgres.tuning.reserve: got 999GB; expected less than postgres.tuning.memory (24GB)"
    )


@pytest.mark.parametrize(
    ("tuning_data", "field"),
    [
        ({"cpus": 5000}, "postgres.tuning.cpus"),
        ({"memory": "128MiB"}, "postgres.tuning.memory"),
        ({"wal_disk": "100MiB"}, "postgres.tuning.wal_disk"),
        ({"memory": "1GiB", "reserve": "900MiB"}, "postgres.tuning.reserve"),
    ],
)
def test_every_refused_tuning_input_names_its_host_data_field(
    tuning_data: dict[str, object], field: str
) -> None:
    spec = host_spec({"postgres": {"wal_directory": "/wal", "tuning": tuning_data}})
    with pytest.raises(InvalidHardware) as refused:
        config.desired_settings(spec, {"timescaledb"}, detected())
    error = config.refusal("db1", refused.value)
    assert (error.host, error.field) == ("db1", field)
    assert "_bytes" not in error.expected and not error.expected.startswith("must")


def test_overrides_win_over_tuning_and_base() -> None:
    spec = host_spec({"postgres": {"settings": {"work_mem": "64MB", "log_checkpoints": False}}})
    wanted = config.desired_settings(spec, {"timescaledb"}, detected()).effective()
    assert wanted["work_mem"] == "64MB"
    assert wanted["log_checkpoints"] == "off"
    assert "timescaledb" in wanted["shared_preload_libraries"].split(",")
    assert wanted["password_encryption"] == "scram-sha-256"


def test_tls_with_the_hosts_certificate_from_timestacks_ca_never_snakeoil() -> None:
    base = config.base_settings(host_spec({}).postgres)
    assert base["ssl"] == "on"
    assert base["ssl_cert_file"] == "/etc/timestack/tls/postgresql/host.crt"
    assert base["ssl_key_file"] == "/etc/timestack/tls/postgresql/host.key"
    assert base["ssl_ca_file"] == "/etc/timestack/tls/postgresql/ca.crt"
    assert not [value for value in base.values() if "snakeoil" in value]
    # a new cluster's postgresql.conf does not name Debian's snakeoil certificate either
    assert "ssl = off" in render("postgres/createcluster.conf.j2").splitlines()


def test_pg_hba_renders_only_the_declared_rules_after_local_peer() -> None:
    pg = host_spec(
        {
            "postgres": {
                "hba": [
                    {
                        "type": "host",
                        "database": "telemetry",
                        "user": "all",
                        "address": "10.1.0.0/16",
                        "allow_without_tls": True,
                    },
                    {"database": "telemetry", "user": "all", "address": "10.2.0.0/16"},
                ]
            }
        }
    ).postgres
    lines = [
        line.split()
        for line in render("postgres/pg_hba.conf.j2", rules=pg.hba, maps=[]).splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == ["local", "all", "postgres", "peer"]
    assert ["host", "telemetry", "all", "10.1.0.0/16", "scram-sha-256"] in lines
    # hostssl unless a rule says otherwise
    assert ["hostssl", "telemetry", "all", "10.2.0.0/16", "scram-sha-256"] in lines
    assert not [line for line in lines if "trust" in line]


def test_settings_file_quotes_values() -> None:
    from roles.postgres.tuning import Setting

    text = render(
        "postgres/settings.conf.j2",
        title="t",
        preamble=[],
        settings=[Setting("listen_addresses", "*", "why"), Setting("x", "it's", "")],
    )
    assert "listen_addresses = '*'" in text
    assert "x = 'it''s'" in text
    assert "# why" in text


def test_scram_verifier_round_trip_and_wrong_password() -> None:
    salt = bytes(range(16))
    stored = scram.verifier("correct horse", salt=salt, iterations=4096)
    assert stored.startswith("SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$")
    digest = scram.fingerprint(stored)
    assert scram.matches("correct horse", 4096, "AAECAwQFBgcICQoLDA0ODw==", digest)
    assert not scram.matches("correct horsf", 4096, "AAECAwQFBgcICQoLDA0ODw==", digest)
    assert not scram.matches("correct horse", 4096, "not base64!", digest)


def test_each_verifier_has_a_fresh_salt() -> None:
    assert scram.verifier("same") != scram.verifier("same")
