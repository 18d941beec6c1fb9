"""The verify suite's TLS checks, parsed without hosts: what openssl s_client reports of an
endpoint, the TCP rules without TLS host data must declare, and the verified connection
parameters clients on the control machine use."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roles import pki
from roles.spec import HbaRule, HostInput, validate_inventory
from roles.templating import render
from tests.verify import tls
from tests.verify.targets import Target, conninfo_value

S_CLIENT = "".join(
    f"{line}\n"
    for line in (
        "verify error:num=62:hostname mismatch",
        "Verify return code: 0 (ok)",
        "notAfter=Mar  3 12:00:00 2029 GMT",
        "issuer=O=Timestack, CN=Timestack CA",
        "X509v3 Subject Alternative Name: ",  # openssl's trailing space
        "    DNS:ts-db1, DNS:db.example, IP Address:10.0.0.5",
    )
)


def test_presented_certificate_is_parsed_from_openssl() -> None:
    found = tls.parse_presented(S_CLIENT.replace("verify error:num=62:hostname mismatch\n", ""))
    assert found.verified
    assert found.not_after == datetime(2029, 3, 3, 12, tzinfo=UTC)
    assert found.issuer == "O=Timestack, CN=Timestack CA"
    assert found.names == ("ts-db1", "db.example", "10.0.0.5")
    assert found.days_left(datetime(2029, 2, 1, 12, tzinfo=UTC)) == 30


def test_a_failed_verification_is_not_verified_and_says_why() -> None:
    found = tls.parse_presented("verify error:num=62:hostname mismatch\n")
    assert not found.verified
    assert found.verification == "verify error:num=62:hostname mismatch"
    assert (found.not_after, found.names) == (None, ())


def test_presented_command_checks_the_name_and_is_valid_shell() -> None:
    command = tls.presented_command("127.0.0.1", 5432, "/etc/timestack/tls/ca.crt", "ts-db1")
    assert "-starttls postgres" in command and "-verify_return_error" in command
    assert "-verify_hostname ts-db1 -servername ts-db1" in command
    by_ip = tls.presented_command("127.0.0.1", 5432, "/ca.crt", "10.0.0.5")
    assert "-verify_ip 10.0.0.5" in by_ip and "-servername" not in by_ip
    result = subprocess.run(["sh", "-n", "-c", command], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("listen", "dialled"),
    [(["*"], "127.0.0.1"), (["localhost", "10.0.0.5"], "127.0.0.1"), (["10.0.0.5"], "10.0.0.5"),
     (["::"], "[::1]"), (["fd00::5"], "[fd00::5]")],
)  # fmt: skip
def test_the_check_dials_the_listener_on_the_host_itself(listen: list[str], dialled: str) -> None:
    assert tls.dial_address(listen) == dialled


def _rule(kind: str, address: str) -> HbaRule:
    return HbaRule.model_validate(
        {"type": kind, "database": "telemetry", "user": "all", "address": address}
    )


def test_only_declared_networks_may_be_without_tls_in_pg_hba() -> None:
    declared = tls.declared_without_tls([_rule("host", "10.9.0.0/24"), _rule("hostssl", "::1")])
    assert declared == {"10.9.0.0/24"}
    rows = [
        ["5", "host", "telemetry", "10.9.0.0", "255.255.255.0"],
        ["6", "host", "telemetry", "10.8.0.0", "255.255.0.0"],
        ["7", "hostssl", "telemetry", "10.7.0.0", "255.255.0.0"],
        ["8", "host", "replication", "10.0.0.12", "255.255.255.255"],
    ]
    assert tls.undeclared_pg_hba(rows, declared, replication_plain=True) == [
        "line 6: host telemetry 10.8.0.0/255.255.0.0"
    ]
    assert len(tls.undeclared_pg_hba(rows, declared, replication_plain=False)) == 2


def test_pgbouncer_hba_reject_lines_do_not_count() -> None:
    rules = [_rule("hostssl", "10.20.0.0/24")]
    text = render("pgbouncer/hba.conf.j2", os_user="postgres", rules=rules)
    assert tls.undeclared_pgbouncer_hba(text, tls.declared_without_tls(rules)) == []
    plain = [_rule("host", "10.1.0.0/16")]
    text = render("pgbouncer/hba.conf.j2", os_user="postgres", rules=plain)
    assert tls.undeclared_pgbouncer_hba(text, set()) == [
        "host  telemetry  all  10.1.0.0/16  scram-sha-256"
    ]


def test_clients_here_verify_the_name_the_certificate_carries_at_the_published_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(pki.PKI_ENV, str(tmp_path / "my pki"))
    (spec,) = validate_inventory([HostInput("@docker/ts-db1", frozenset({"kafka"}), {})]).values()
    target = Target(
        "@docker/ts-db1",
        frozenset({"kafka"}),
        "docker://ts-db1",
        {},
        spec,
        {"verify_endpoints": {"pgbouncer": "127.0.0.1:16432"}},
    )
    assert target.tls_conninfo("pgbouncer", 6432) == (
        "host=ts-db1 hostaddr=127.0.0.1 port=16432 sslmode=verify-full "
        f"sslrootcert='{tmp_path}/my pki/ca.crt'"
    )
    assert conninfo_value("it's") == "'it\\'s'"
