"""Pins on a host: one `apt-cache policy` for every pinned package, refusals naming host,
field, pin and offer, the check before any package is installed, and which pins a host has."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from pyinfra.facts.deb import DebPackages

from roles import packages
from roles.hostdata import host_pins
from roles.packages import AptCacheAge, AptPolicy, PinRefusal
from roles.pins import Pin, Policy
from roles.spec import HostInput, validate_inventory
from tests.unit.pyinfra_host import FactHost, commands

OFFERED = {"pgbouncer": Policy("1.24.1-1", "1.24.1-1", ("1.24.1-1",))}
PGBOUNCER = Pin("pgbouncer.version", "1.23*", ("pgbouncer",))
PGBACKREST = Pin("backup.version", "2.*", ("pgbackrest",))


@pytest.fixture
def fake() -> Iterator[FactHost]:
    with FactHost().context() as fact_host:
        fact_host.facts[DebPackages] = {"pgbouncer": {"1.24.1-1"}}
        yield fact_host


def asked(fake: FactHost) -> list[tuple[str, ...]]:
    """The package lists apt-cache policy was run for."""
    calls: list[tuple[str, ...]] = []

    def policy(names: tuple[str, ...]) -> dict[str, Policy]:
        calls.append(names)
        return {name: OFFERED[name] for name in names if name in OFFERED}

    fake.facts[AptPolicy] = policy
    return calls


def test_a_pin_not_offered_is_refused_naming_host_field_pin_and_offer(fake: FactHost) -> None:
    asked(fake)
    with pytest.raises(PinRefusal) as refused:
        commands(packages.installed, packages=[], pins=[PGBOUNCER])
    assert str(refused.value) == (
        "db1: pgbouncer.version: got '1.23*'; expected a version of pgbouncer this host's "
        "repositories offer: 1.24.1-1"
    )


def test_every_pinned_package_is_asked_of_apt_once(fake: FactHost) -> None:
    calls = asked(fake)
    packages.declare([PGBOUNCER, PGBACKREST], cache_seconds=3600)
    fake.state.is_executing = True
    with pytest.raises(PinRefusal):
        commands(packages.installed, packages=[], pins=[PGBACKREST, PGBOUNCER])
    assert calls == [("pgbackrest", "pgbouncer")]


def test_a_package_apt_does_not_know_yet_is_left_to_apt_while_preparing(fake: FactHost) -> None:
    asked(fake)
    # Its repository (Timescale's) is added by this run: apt resolves the pin as it installs.
    planned = commands(packages.installed, packages=[], pins=[PGBACKREST])
    assert planned[0].endswith(" install 'pgbackrest=2.*'")
    fake.state.is_executing = True  # by then its repository has been read
    with pytest.raises(PinRefusal, match="no apt source on this host offers pgbackrest"):
        commands(packages.installed, packages=[], pins=[PGBACKREST])


@pytest.mark.parametrize(
    ("executing", "age", "refused"),
    [(False, 60, True), (False, 7200, False), (False, None, False), (True, None, True)],
    ids=["preparing, fresh lists", "preparing, stale lists", "no lists", "executing"],
)
def test_pins_are_checked_before_any_install_from_lists_the_installs_will_see(
    fake: FactHost, executing: bool, age: int | None, refused: bool
) -> None:
    asked(fake)
    fake.facts[AptCacheAge] = age
    fake.state.is_executing = executing
    pins = [PGBOUNCER, PGBACKREST]
    packages.declare(pins, cache_seconds=3600)
    if refused:
        with pytest.raises(PinRefusal, match=r"pgbouncer\.version: got '1\.23\*'"):
            commands(packages.pins_offered, pins=pins)
        with pytest.raises(PinRefusal, match=r"pgbouncer\.version: got '1\.23\*'"):
            commands(packages.installed, packages=[], pins=[PGBOUNCER])
    else:
        assert commands(packages.pins_offered, pins=pins) == []
        assert fake.noops == ["package pins are checked once the apt cache is refreshed"]
        # The install shows apt's own pin: the refreshed lists decide when it runs.
        planned = commands(packages.installed, packages=[], pins=[PGBOUNCER])
        assert planned[0].endswith(" install 'pgbouncer=1.23*'")


def test_the_check_leaves_unknown_packages_to_their_install(fake: FactHost) -> None:
    asked(fake)
    fake.state.is_executing = True
    pins = [Pin("pgbouncer.version", "1.*", ("pgbouncer",)), PGBACKREST]
    packages.declare(pins, cache_seconds=3600)
    assert commands(packages.pins_offered, pins=pins) == []
    assert fake.noops == ["pinned packages offered: 1; checked at install: pgbackrest"]


DB_DATA = {
    "postgres": {
        "source": "timescale",
        "roles": [
            {"name": "owner", "login": False},
            {"name": "timestack_monitor", "password": "x", "member_of": ["pg_monitor"]},
        ],
        "databases": [{"name": "telemetry", "owner": "owner"}],
    },
    "pgbouncer": {"version": "1.24.1-1"},
}


def test_a_host_pins_what_its_roles_install() -> None:
    specs = validate_inventory(
        [
            HostInput("db1", frozenset({"timescaledb", "pgbouncer"}), DB_DATA),
            HostInput("backup1", frozenset({"pgbackrest_repo", "monitoring"}), {}),
        ]
    )
    db = {pin.field: (pin.value, pin.packages) for pin in host_pins(specs["db1"], False)}
    assert db == {
        "postgres.package_version": ("17.*", ("postgresql-17",)),
        "postgres.timescaledb_version": (
            "2.*",
            ("timescaledb-2-postgresql-17", "timescaledb-2-loader-postgresql-17"),
        ),
        "pgbouncer.version": ("1.24.1-1", ("pgbouncer",)),
        "backup.version": ("2.*", ("pgbackrest",)),
    }
    monitored = {pin.field: pin.packages for pin in host_pins(specs["backup1"], True)}
    assert monitored == {
        "backup.version": ("pgbackrest",),
        "monitoring.exporter_versions.node": ("prometheus-node-exporter",),
        "monitoring.prometheus.version": ("prometheus",),
        "monitoring.alertmanager.version": ("prometheus-alertmanager",),
    }
    assert "monitoring.exporter_versions.node" not in {
        pin.field for pin in host_pins(specs["backup1"], False)
    }


def test_a_declaration_dies_with_its_host() -> None:
    """Held by the host itself: keyed on pyinfra's `host` context object, it would outlive its
    host and answer for a later one allocated where it was (a parity test failed that way)."""
    fact_host = FactHost()
    with fact_host.context():
        packages.declare([PGBOUNCER], cache_seconds=3600)
    collected = weakref.ref(fact_host.host)
    del fact_host
    gc.collect()
    assert collected() is None
    assert not packages._declared
