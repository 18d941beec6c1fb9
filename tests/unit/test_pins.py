"""Package pins: their syntax in host data, Debian's version order, `apt-cache policy` read,
and what a pin asks of a host (keep, install, upgrade, downgrade, refuse)."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from roles import pins
from roles.hostdata import host_pins
from roles.pins import Pin, Policy, decide, parse_policy
from roles.spec import HostInput, SpecError, validate_inventory
from roles.spec.types import PIN_EXPECTED

POLICY = """\
pgbouncer:
  Installed: 1.24.1-1
  Candidate: 1.24.1-1
  Version table:
 *** 1.24.1-1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
        100 /var/lib/dpkg/status
postgresql-17:
  Installed: 17.11-1
  Candidate: 17.12-0+deb13u1
  Version table:
     17.12-0+deb13u1 500
        500 http://deb.debian.org/debian-security trixie-security/main amd64 Packages
 *** 17.11-1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
        100 /var/lib/dpkg/status
prometheus-node-exporter:amd64:
  Installed: 1.8.2-1
  Candidate: 1.9.1-1
  Version table:
     1.9.1-1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
 *** 1.8.2-1 100
        100 /var/lib/dpkg/status
pgbackrest:
  Installed: (none)
  Candidate: 2.55-1
  Version table:
     2.55-1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
     2.54.2-1 -1
        -1 file:/srv/pinned ./ Packages
""".splitlines()


def test_policy_output_reads_installed_candidate_and_what_repositories_offer() -> None:
    found = parse_policy(POLICY)
    assert found["pgbouncer"] == Policy("1.24.1-1", "1.24.1-1", ("1.24.1-1",))
    assert found["postgresql-17"] == Policy(
        "17.11-1", "17.12-0+deb13u1", ("17.12-0+deb13u1", "17.11-1")
    )
    # Installed from a repository that no longer offers it: dpkg's status is no repository.
    assert found["prometheus-node-exporter"].offered == ("1.9.1-1",)
    assert found["pgbackrest"] == Policy(None, "2.55-1", ("2.55-1", "2.54.2-1"))
    assert "nosuchpackage" not in found  # apt prints nothing for a package it does not know


def test_the_policy_command_runs_in_the_c_locale_once_for_all_packages() -> None:
    assert pins.policy_command(["pgbouncer", "pgbackrest", "pgbouncer"]) == (
        "LC_ALL=C apt-cache policy pgbackrest pgbouncer"
    )


ORDERED = [
    "1.0~rc1",
    "1.0",
    "1.0-1",
    "1.0-1+deb13u1",
    "1.0a",
    "1.0+dfsg-1",
    "1.0.0",
    "1.2",
    "1.10",
    "2.19.3~debian12",
    "2.19.3+dfsg-1",
    "17.9-1",
    "17.11-1",
    "17.11-1.pgdg13+1",
    "1:0.1",
]


def test_versions_sort_as_dpkg_sorts_them() -> None:
    assert pins.newest_first(reversed(ORDERED)) == list(reversed(ORDERED))
    assert pins.compare("1.0", "1.0-0") == 0
    assert pins.compare("2:1", "3") > 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed here")
def test_the_order_agrees_with_dpkg_itself() -> None:
    for older, newer in itertools.pairwise(ORDERED):
        subprocess.run(["dpkg", "--compare-versions", older, "lt", newer], check=True)


@pytest.mark.parametrize(
    ("pin", "version", "expected"),
    [
        ("1.24*", "1.24.1-1", True),
        ("1.24*", "1.25.0-1", False),
        ("17.*", "17.11-1.pgdg13+1", True),
        ("1.24.1-1", "1.24.1-1", True),
        ("1.24.1", "1.24.1-1", False),
        ("latest", "0.1", True),
    ],
)
def test_a_pin_matches_versions_as_apt_pins_do(pin: str, version: str, expected: bool) -> None:
    assert pins.matches(pin, version) is expected


PGBOUNCER = Pin("pgbouncer.version", "1.*", ("pgbouncer",))
OFFERED = Policy("1.24.1-1", "1.25.0-1", ("1.25.0-1", "1.24.1-1", "1.23.1-2"))


def pin(value: str, no_downgrade: str = "") -> Pin:
    return Pin("pgbouncer.version", value, ("pgbouncer",), no_downgrade)


def test_an_installed_version_that_matches_is_kept() -> None:
    decision = decide(pin("1.24*"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert (decision.kind, decision.text) == (
        "keep",
        "pgbouncer 1.24.1-1 is installed (pgbouncer.version 1.24*)",
    )


def test_a_prefix_installs_the_newest_match_and_upgrades_to_it() -> None:
    fresh = decide(pin("1.24*"), "pgbouncer", set(), OFFERED)
    assert (fresh.kind, fresh.argument, fresh.downgrade) == ("install", "pgbouncer=1.24.1-1", False)
    upgrade = decide(pin("1.25*"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert (upgrade.argument, upgrade.text) == (
        "pgbouncer=1.25.0-1",
        "upgrade pgbouncer from 1.24.1-1 to 1.25.0-1",
    )


def test_an_exact_older_version_is_a_downgrade() -> None:
    decision = decide(pin("1.23.1-2"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert (decision.kind, decision.argument, decision.downgrade) == (
        "install",
        "pgbouncer=1.23.1-2",
        True,
    )
    assert decision.text == "downgrade pgbouncer from 1.24.1-1 to 1.23.1-2"


def test_a_prefix_never_downgrades() -> None:
    decision = decide(pin("1.23*"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert decision.kind == "refuse"
    assert decision.text == (
        "an exact version to go back to from the installed 1.24.1-1 (a prefix never "
        "downgrades): 1.23.1-2"
    )


def test_a_component_that_cannot_go_back_is_refused_even_an_exact_pin() -> None:
    decision = decide(pin("1.23.1-2", "its databases cannot"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert (decision.kind, decision.text) == ("refuse", "1.24.1-1 or newer: its databases cannot")


def test_latest_follows_the_candidate() -> None:
    upgrade = decide(pin("latest"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert (upgrade.kind, upgrade.argument) == ("install", "pgbouncer=1.25.0-1")
    current = decide(pin("latest"), "pgbouncer", {"1.25.0-1"}, OFFERED)
    assert current.kind == "keep"


def test_a_version_not_offered_is_refused_with_what_is_offered() -> None:
    decision = decide(pin("1.22*"), "pgbouncer", {"1.24.1-1"}, OFFERED)
    assert (decision.kind, decision.text) == (
        "refuse",
        "a version of pgbouncer this host's repositories offer: 1.25.0-1, 1.24.1-1, 1.23.1-2",
    )
    # An exact pin written as a prefix without its * is told so.
    short = decide(pin("1.24.1"), "pgbouncer", set(), OFFERED)
    assert short.text.endswith("; 1.24.1* pins any of those starting with 1.24.1")


def test_a_long_offer_is_cut_to_the_newest() -> None:
    many = Policy(None, "1.30-1", tuple(f"1.{n}-1" for n in range(30, 10, -1)))
    text = decide(pin("2.*"), "pgbouncer", set(), many).text
    assert text.endswith(
        "1.30-1, 1.29-1, 1.28-1, 1.27-1, 1.26-1, 1.25-1, 1.24-1, 1.23-1 and 12 older"
    )


def test_a_package_apt_does_not_know_is_left_to_its_install() -> None:
    decision = decide(pin("1.*"), "pgbouncer", set(), None)
    assert decision.kind == "unknown"
    assert decision.text.startswith("a version of pgbouncer a repository offers: no apt source")
    # Installed and matching: nothing to ask of apt.
    assert decide(pin("1.*"), "pgbouncer", {"1.24.1-1"}, None).kind == "keep"


DB_DATA = {
    "postgres": {
        "roles": [{"name": "owner", "login": False}],
        "databases": [{"name": "telemetry", "owner": "owner"}],
    }
}


def hosts(data: dict[str, object]) -> list[HostInput]:
    db_data = {**DB_DATA, **data}
    if "postgres" in data:
        db_data["postgres"] = {**DB_DATA["postgres"], **data["postgres"]}  # type: ignore[dict-item]
    return [
        HostInput("db1", frozenset({"timescaledb", "pgbouncer"}), db_data),
        HostInput("backup1", frozenset({"pgbackrest_repo"}), {}),
    ]


def errors(data: dict[str, object]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate_inventory(hosts(data))
    return [str(error) for error in caught.value.errors]


@pytest.mark.parametrize(
    ("section", "value", "hint"),
    [
        ({"pgbouncer": {"version": ">=1.24"}}, "'>=1.24'", " (no comparison operators"),
        ({"backup": {"version": "*"}}, "'*'", " (* only at the end"),
        ({"backup": {"version": "2.*.1"}}, "'2.*.1'", " (* only at the end"),
        ({"postgres": {"timescaledb_version": "Latest"}}, "'Latest'", " (latest in lowercase)"),
        ({"monitoring": {"exporter_versions": {"node": "v1.9"}}}, "'v1.9'", ""),
    ],
)
def test_a_bad_pin_is_refused_naming_field_and_syntax(
    section: dict[str, object], value: str, hint: str
) -> None:
    (line,) = errors(section)
    assert f": got {value}; expected {PIN_EXPECTED}{hint}" in line


def test_a_server_pin_of_another_major_is_refused() -> None:
    (line,) = errors({"postgres": {"version": 17, "package_version": "16.4*"}})
    assert line.startswith(
        "db1: postgres.package_version: got '16.4*'; expected a version of postgresql-17 "
        "(postgres.version is 17)"
    )


def test_defaults_are_the_major_series() -> None:
    spec = validate_inventory(hosts({"postgres": {"version": 16}}))["db1"]
    assert spec.postgres.server_pin == "16.*"
    assert spec.postgres.timescaledb_version == "2.*"
    assert (spec.pgbouncer.version, spec.backup.version) == ("1.*", "2.*")
    assert spec.monitoring.prometheus.version == "2.*"
    assert spec.monitoring.exporter_versions.node == "1.*"
    # Debian's Go pgBouncer exporter carries epoch 1 (trixie: 1:0.10.2-2).
    assert pins.matches(spec.monitoring.exporter_versions.pgbouncer, "1:0.10.2-2")


# What Debian trixie (main and trixie-security, the lab's release) offered when the defaults
# were chosen: `apt-cache policy` on trixie's lists.
TRIXIE = {
    "postgresql-17": "17.12-0+deb13u1",
    "postgresql-17-timescaledb": "2.19.3+dfsg-1+deb13u1",
    "pgbouncer": "1.24.1-1+deb13u2",
    "pgbackrest": "2.55.1-1",
    "prometheus": "2.53.3+ds1-2",
    "prometheus-alertmanager": "0.28.1+ds-1",
    "prometheus-node-exporter": "1.9.0-1+b4",
    "prometheus-postgres-exporter": "0.17.1-1+b4",
    "prometheus-pgbouncer-exporter": "1:0.10.2-2",
    "prometheus-pgbackrest-exporter": "0.19.0+ds1-2",
}


def test_every_default_pin_matches_what_the_labs_release_offers() -> None:
    lab: dict[str, object] = {"postgres": {"source": "debian"}}
    specs = validate_inventory(hosts(lab))
    wanted = host_pins(specs["db1"], True) + host_pins(
        specs["backup1"].model_copy(update={"groups": frozenset({"monitoring"})}), True
    )
    checked = set()
    for package, pin in pins.pinned_packages(wanted):
        assert pins.matches(pin.value, TRIXIE[package]), f"{pin.field} {pin.value}: {package}"
        checked.add(package)
    assert checked == set(TRIXIE)
