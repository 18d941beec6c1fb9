"""roles.postgres.replication and the slot operation: what a primary and its standbys need."""

from __future__ import annotations

import pytest

from roles import pki
from roles.backup.runbook import RunbookError
from roles.postgres import operations, replication, switchover
from roles.postgres.facts import HostAddresses, ReplicationSlots
from roles.postgres.replication import Upstream
from roles.spec import HostInput, HostSpec, PgbouncerDatabase, validate_inventory

PASSWORD = "re:pl\\ication-Pa55"
ROLE = {"name": "timestack_replication", "password_env": "TS_TEST_REPLICATION_PW"}
BASE = {
    "roles": [{"name": "telemetry_owner", "login": False}],
    "databases": [{"name": "telemetry", "owner": "telemetry_owner"}],
}
DB = frozenset({"timescaledb"})


@pytest.fixture
def specs(monkeypatch: pytest.MonkeyPatch) -> dict[str, HostSpec]:
    monkeypatch.setenv("TS_TEST_REPLICATION_PW", PASSWORD)
    primary = {**BASE, "port": 5433, "replication": {"role": ROLE}}
    return validate_inventory(
        [
            HostInput("@ssh/db1.example", DB, {"postgres": primary}),
            HostInput("db2", DB, {"postgres": {**BASE, "upstream": "@ssh/db1.example"}}),
            HostInput("repo", frozenset({"pgbackrest_repo"}), {}),
        ]
    )


def test_a_standby_dials_its_primary_by_name_as_the_replication_role(
    specs: dict[str, HostSpec],
) -> None:
    up = replication.upstream(specs["db2"], specs)
    assert up == Upstream(
        "@ssh/db1.example", "db1.example", 5433, "timestack_replication", PASSWORD
    )
    assert PASSWORD not in repr(up)
    assert replication.upstream(specs["@ssh/db1.example"], specs) is None


def test_standby_settings_name_the_slot_and_keep_the_password_out(
    specs: dict[str, HostSpec],
) -> None:
    up = replication.upstream(specs["db2"], specs)
    assert up is not None
    settings = replication.standby_settings("db2", up)
    assert settings["primary_slot_name"] == "timestack_db2"
    conninfo = settings["primary_conninfo"]
    assert "host=db1.example port=5433 user=timestack_replication" in conninfo
    assert f"passfile={replication.PASSFILE}" in conninfo
    assert "application_name=timestack_db2" in conninfo
    # TLS checked against Timestack's CA, for the name dialled, whatever the primary's rule
    assert "sslmode=verify-full sslrootcert=/etc/timestack/tls/postgresql/ca.crt" in conninfo
    assert PASSWORD not in conninfo


def test_a_standby_dials_a_name_its_primarys_certificate_carries(
    specs: dict[str, HostSpec],
) -> None:
    up = replication.upstream(specs["db2"], specs)
    assert up is not None
    names = pki.identity(specs["@ssh/db1.example"]).names
    assert up.address in names
    assert replication.unverifiable_upstream("db2", up, names) is None
    error = replication.unverifiable_upstream("db2", up, ("db1.internal",))
    assert error is not None
    assert (error.host, error.field) == ("db2", "postgres.upstream")
    assert "names db1.example, the address this standby dials" in error.expected
    assert "tls.names" in error.expected


def test_pgpass_escapes_colons_and_backslashes(specs: dict[str, HostSpec]) -> None:
    up = replication.upstream(specs["db2"], specs)
    assert up is not None
    line = replication.pgpass(up).decode()
    assert line == "db1.example:5433:replication:timestack_replication:re\\:pl\\\\ication-Pa55\n"


def test_the_primary_admits_each_standby_from_its_address_only(
    specs: dict[str, HostSpec],
) -> None:
    primary = specs["@ssh/db1.example"]
    assert replication.standby_names(primary, specs) == ["db2"]
    (rule,) = replication.replication_rules(primary, [("db2", "10.0.0.12/32")])
    assert (rule.type, rule.database, rule.user, rule.address, rule.method) == (
        "hostssl",
        "replication",
        "timestack_replication",
        "10.0.0.12/32",
        "scram-sha-256",
    )
    assert replication.replication_rules(primary, []) == []


def test_hot_standby_rule_refuses_lower_settings_naming_the_field() -> None:
    primary = {"max_connections": "200", "max_worker_processes": "16"}
    assert replication.hot_standby_problems("db2", "db1", dict(primary), primary) == []
    bigger = {"max_connections": "300", "max_worker_processes": "32"}
    assert replication.hot_standby_problems("db2", "db1", bigger, primary) == []
    (error,) = replication.hot_standby_problems(
        "db2", "db1", {"max_connections": "200", "max_worker_processes": "8"}, primary
    )
    assert (error.host, error.field, error.got) == (
        "db2",
        "postgres.settings[max_worker_processes]",
        "max_worker_processes 8",
    )
    assert error.expected.startswith("at least 16, what its upstream db1 runs with")
    (error,) = replication.hot_standby_problems(
        "db2", "db1", {"max_connections": "100", "max_worker_processes": "16"}, primary
    )
    assert error.field == "postgres.max_connections"
    # Unset on both: PostgreSQL's defaults, equal.
    assert replication.hot_standby_problems("db2", "db1", {}, {}) == []
    (error,) = replication.hot_standby_problems("db2", "db1", {}, {"max_wal_senders": "20"})
    assert error.got == "max_wal_senders 10"


def test_fact_parsers() -> None:
    assert ReplicationSlots().parse(["timestack_db2|t", "other|f"]) == {
        "timestack_db2": True,
        "other": False,
    }
    assert HostAddresses().process(["db2 10.0.0.12", "gone"]) == {"db2": "10.0.0.12"}


class Noted:
    def __init__(self, slots: dict[str, bool] | None) -> None:
        self.slots = slots
        self.notes: list[str] = []

    def get_fact(self, *_: object, **__: object) -> dict[str, bool] | None:
        return self.slots

    def noop(self, note: str) -> None:
        self.notes.append(note)


def _slot_commands(
    monkeypatch: pytest.MonkeyPatch, current: dict[str, bool] | None, wanted: list[str]
) -> list[str]:
    fake = Noted(current)
    monkeypatch.setattr(operations, "host", fake)
    commands = operations.replication_slots._inner(
        version=17, cluster="main", wanted=wanted, prefix="timestack_"
    )
    return [str(c) for c in commands]


def test_slots_are_created_once_and_stale_inactive_ones_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _slot_commands(monkeypatch, {"timestack_db2": True}, ["timestack_db2"]) == []
    (create,) = _slot_commands(monkeypatch, None, ["timestack_db2"])
    assert "pg_create_physical_replication_slot(slot_name, true)" in create
    assert "timestack_db2" in create
    (drop,) = _slot_commands(
        monkeypatch,
        {"timestack_db2": False, "timestack_old": False, "theirs": False},
        ["timestack_db2"],
    )
    assert "pg_drop_replication_slot" in drop and "timestack_old" in drop
    # An active slot is someone's running standby: left for the operator.
    assert _slot_commands(monkeypatch, {"timestack_old": True}, []) == []


def test_switchover_plan_swaps_the_upstreams(specs: dict[str, HostSpec]) -> None:
    with pytest.raises(RunbookError, match="set the replication role on it too"):
        switchover.plan(specs, "db2")  # db2 declares no replication role of its own
    role = specs["@ssh/db1.example"].postgres.replication
    db2 = specs["db2"]
    specs["db2"] = db2.model_copy(
        update={"postgres": db2.postgres.model_copy(update={"replication": role})}
    )
    plan = switchover.plan(specs, "db2")
    assert (plan.old, plan.new) == ("@ssh/db1.example", "db2")
    assert plan.specs["db2"].postgres.upstream is None
    assert plan.specs["@ssh/db1.example"].postgres.upstream == "db2"
    assert specs["db2"].postgres.upstream == "@ssh/db1.example"  # the inventory is untouched
    with pytest.raises(RunbookError, match="is a primary already"):
        switchover.plan(specs, "@ssh/db1.example")
    with pytest.raises(RunbookError, match="switchover_to=<standby>: one of db2"):
        switchover.plan(specs, None)


def test_lsn_order() -> None:
    assert switchover.lsn("0/C000028") < switchover.lsn("0/C0000A0") < switchover.lsn("1/0")


def test_the_old_primary_sends_its_clients_on_without_stale_parameters(
    specs: dict[str, HostSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(switchover, "_console", lambda _spec, command: sent.append(command))
    monkeypatch.setattr(switchover, "PROGRESS", switchover.Progress(paused_at=1.0))
    old = specs["@ssh/db1.example"]
    databases = [PgbouncerDatabase(name=name, dbname=name) for name in ("telemetry", "archive")]
    bouncer = old.pgbouncer.model_copy(update={"databases": databases})
    pooled = old.model_copy(update={"pgbouncer": bouncer})
    switchover.release_clients(pooled)
    # Cached startup parameters go first; KILL only once the global PAUSE is lifted (pgBouncer
    # refuses it while paused); each killed database resumed, or its clients would wait.
    assert sent == [
        "RECONNECT", "RESUME", "KILL telemetry", "RESUME telemetry", "KILL archive",
        "RESUME archive",
    ]  # fmt: skip
    assert switchover.PROGRESS.released_at is not None
