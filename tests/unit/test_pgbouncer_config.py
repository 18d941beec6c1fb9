"""pgBouncer's configuration, computed without a host."""

from __future__ import annotations

from roles.pgbouncer import config
from roles.spec import PgbouncerSpec
from roles.templating import render


def bouncer(**fields: object) -> PgbouncerSpec:
    return PgbouncerSpec.model_validate({"databases": [{"name": "telemetry"}], **fields})


def test_seed_defaults_transaction_pooling_for_1000_clients() -> None:
    settings = config.settings(bouncer())
    assert settings["pool_mode"] == "transaction"
    assert settings["max_client_conn"] == "1004"  # 1000 applications + Timestack's own 4
    assert settings["default_pool_size"] == "50"
    assert settings["reserve_pool_size"] == "10"
    assert settings["auth_type"] == "hba"
    assert "auth_user" not in settings  # per database: a global one breaks the admin console


def test_max_client_conn_adds_timestack_clients_to_the_declared_ones() -> None:
    assert config.settings(bouncer(clients=200))["max_client_conn"] == "204"
    assert config.settings(bouncer(max_client_conn=5000))["max_client_conn"] == "5000"
    assert config.open_files_limit(bouncer(clients=3000)) == 2 * (3004 + 60) + 256


def test_no_password_anywhere_in_the_configuration() -> None:
    text = render(
        "pgbouncer/pgbouncer.ini.j2",
        comment=";",
        databases=bouncer().databases,
        settings=config.settings(bouncer()),
        socket_dir=config.SOCKET_DIR,
        auth_user="pgbouncer_auth",
    )
    assert "password" not in text.lower()
    assert (
        "telemetry = host=/var/run/postgresql port=5432 dbname=telemetry "
        "auth_user=pgbouncer_auth" in text
    )


def test_client_tls_required_with_the_hosts_certificate_by_default() -> None:
    settings = config.settings(bouncer())
    assert settings["client_tls_sslmode"] == "require"
    assert settings["client_tls_cert_file"] == "/etc/timestack/tls/pgbouncer/host.crt"
    assert settings["client_tls_key_file"] == "/etc/timestack/tls/pgbouncer/host.key"
    assert settings["client_tls_ca_file"] == "/etc/timestack/tls/pgbouncer/ca.crt"
    # pgBouncer reaches PostgreSQL over the Unix socket: no server-side TLS to configure
    assert not [key for key in settings if key.startswith("server_tls")]


def test_client_tls_mode_from_host_data_and_no_files_when_disabled() -> None:
    assert config.settings(bouncer(client_tls_sslmode="prefer"))["client_tls_sslmode"] == "prefer"
    disabled = config.settings(bouncer(client_tls_sslmode="disable"))
    assert disabled["client_tls_sslmode"] == "disable"
    assert not [key for key in disabled if key.startswith("client_tls_") and "file" in key]


def test_rendered_ini_names_the_tls_files() -> None:
    text = render(
        "pgbouncer/pgbouncer.ini.j2",
        comment=";",
        databases=bouncer().databases,
        settings=config.settings(bouncer()),
        socket_dir=config.SOCKET_DIR,
        auth_user="pgbouncer_auth",
    )
    assert "client_tls_sslmode = require\n" in text
    assert "client_tls_key_file = /etc/timestack/tls/pgbouncer/host.key\n" in text
    assert "server_tls" not in text


def test_open_files_cover_clients_and_pools() -> None:
    assert config.open_files_limit(bouncer()) >= 2 * (1000 + 60)
    assert config.open_files_limit(bouncer(max_client_conn=10)) == 4096


def test_show_config_numbers_compare_as_numbers() -> None:
    assert config.same_value("5.0", "5")
    assert not config.same_value("5", "6")
    assert config.same_value("transaction", "transaction")
    assert not config.same_value("transaction", None)


def test_lookup_function_refuses_superusers_and_is_marked() -> None:
    sql = config.lookup_sql("pgbouncer_auth")
    assert "SECURITY DEFINER" in sql
    assert "NOT rolsuper" in sql
    assert "REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC" in sql
    assert config.lookup_marker("pgbouncer_auth") != config.lookup_marker("other")


def test_hba_mirrors_postgres_rules_and_locks_the_admin_console() -> None:
    from roles.spec import HbaRule

    rule = HbaRule.model_validate(
        {"type": "host", "database": "telemetry", "user": "all", "address": "10.1.0.0/16"}
    )
    lines = [
        line.split()
        for line in render("pgbouncer/hba.conf.j2", os_user="postgres", rules=[rule]).splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == ["local", "pgbouncer", "postgres", "peer"]
    assert ["host", "all", "postgres", "0.0.0.0/0", "reject"] in lines
    assert ["host", "telemetry", "all", "10.1.0.0/16", "scram-sha-256"] in lines
    assert not [line for line in lines if "trust" in line]
