"""Checks for pgBouncer (group pgbouncer)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from roles.pgbouncer import config
from roles.pgbouncer.facts import admin_console
from roles.spec import HostSpec
from tests.verify.targets import Target, local_ca

pytestmark = pytest.mark.group("pgbouncer")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def test_service_active_and_enabled(host: Any) -> None:
    service = host.service(config.SERVICE)
    assert service.is_running, "pgbouncer is not running"
    assert service.is_enabled, "pgbouncer is not enabled"


def test_port_listening(host: Any, spec: Any) -> None:
    port = spec.pgbouncer.listen_port
    assert [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")], (
        f"nothing listens on port {port}"
    )


def test_show_config_matches_host_data(host: Any, spec: Any) -> None:
    output = host.check_output(admin_console(spec.pgbouncer.listen_port, "SHOW CONFIG"))
    running = {line.split("|")[0]: line.split("|")[1] for line in output.splitlines()}
    wrong = {
        key: f"expected {value!r}, running {running.get(key)!r}"
        for key, value in config.settings(spec.pgbouncer).items()
        if not config.same_value(value, running.get(key))
    }
    assert not wrong, f"SHOW CONFIG differs from host data: {wrong}"


def test_open_file_limit_covers_clients_and_pools(host: Any, spec: Any) -> None:
    limit = host.check_output("systemctl show -p LimitNOFILE --value pgbouncer")
    assert int(limit) >= config.open_files_limit(spec.pgbouncer)


def _login_dsn(target: Target, spec: HostSpec) -> tuple[str, str, str]:
    """A DSN through this host's pgBouncer for an application role, over TLS verified against
    Timestack's CA, and its password; skips (saying why) where no login can be tried from
    here."""
    bouncer = spec.pgbouncer
    address, _ = target.endpoint("pgbouncer", bouncer.listen_port)
    if bouncer.listen_addr in LOOPBACK and address not in LOOPBACK:
        pytest.skip(f"pgBouncer listens on {bouncer.listen_addr} only: not reachable from here")
    roles = [r for r in spec.postgres.roles if r.login and (r.password or r.password_env)]
    if not roles or not bouncer.databases:
        pytest.skip("no login role with a password, or no pooled database, in host data")
    role = next((r for r in roles if r.name.endswith("_app")), roles[0])
    password = role.secret()
    if not password:
        pytest.skip(f"{role.name}'s password_env {role.password_env} is not set here")
    if not local_ca().exists():
        pytest.skip(f"no CA certificate at {local_ca()} to verify pgBouncer's (TIMESTACK_PKI_DIR)")
    tls = target.tls_conninfo("pgbouncer", bouncer.listen_port)
    dsn = f"{tls} dbname={bouncer.databases[0].name} user={role.name}"
    return dsn, role.name, password


def test_login_with_the_right_password_succeeds(target: Target, spec: HostSpec) -> None:
    dsn, user, password = _login_dsn(target, spec)
    with psycopg.connect(dsn, password=password, connect_timeout=10) as connection:
        assert connection.execute("SELECT current_user").fetchone() == (user,)


def test_login_with_a_wrong_password_fails(target: Target, spec: HostSpec) -> None:
    dsn, _user, password = _login_dsn(target, spec)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(dsn, password=password + "-wrong", connect_timeout=10)


def test_config_files_private_to_the_service_user(host: Any) -> None:
    for path in (config.INI, config.HBA, config.USERLIST):
        file = host.file(path)
        assert file.user == config.OS_USER, f"{path} owned by {file.user}"
        assert file.mode & 0o007 == 0, f"{path} mode {oct(file.mode)} is world-accessible"


def test_no_password_in_the_auth_file(host: Any) -> None:
    for line in host.file(config.USERLIST).content_string.splitlines():
        fields = line.split('"')
        assert len(fields) < 4 or fields[3] == "", f"a password in {config.USERLIST}: {fields[1]}"
