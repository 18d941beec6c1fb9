"""Planned switchover: a streaming standby becomes the primary, the primary its standby.

    pyinfra -y inventory/lab.py ops/switchover.py --data switchover_to=ts-db2

Refused, with nothing changed, unless the standby streams and replays within its
postgres.replication.max_lag. Writes pause on the primary's pgBouncer for the duration
(PAUSE: running transactions finish, new ones wait), the primary stops cleanly, the standby
replays all of it and is promoted, the old primary's pgBouncer sends its clients on (KILL:
they reconnect to the new primary), the old primary follows it with the configuration a
deploy of the switched inventory writes, and a one-screen report gives the write pause a
client sees, the LSN and the new timeline (roles/postgres/switchover.py). Then
update the inventory (postgres.upstream); deploy.py refuses both hosts until it says so.
"""

from pyinfra import host, inventory
from pyinfra.operations import systemd

from roles import staging
from roles.backup import runbook
from roles.hostdata import validated_specs
from roles.pgclient import service_name
from roles.postgres import (
    base_settings_file,
    config,
    hba_file,
    pgpass_file,
    replication,
    standby,
    switchover,
)

# --data keys of this runbook are not host data
_specs = validated_specs(inventory, not_host_data=("switchover_to",))
_plan = switchover.plan(_specs, host.data.get("switchover_to"))
_mine = _plan.specs.get(host.name)
_old, _new = _plan.old, _plan.new
_pooled = "pgbouncer" in host.groups
_groups = frozenset(host.groups)


def _promoted() -> bool:
    return switchover.PROGRESS.promoted


if host.name in (_old, _new):
    staging.prepare()
if host.name == _new:
    runbook.step(
        name="Standby in recovery and streaming", function=switchover.check_standby, spec=_mine
    )
if host.name == _old:
    runbook.step(
        name="Standby streams within max_lag",
        function=switchover.check_replication,
        spec=_mine,
        standby=_new,
        max_lag=_plan.specs[_new].postgres.replication.max_lag,
    )
    runbook.step(
        name="Pause writes (pgBouncer PAUSE), stop the primary cleanly",
        function=switchover.pause_and_stop,
        spec=_mine,
        pgbouncer=_pooled,
    )
if host.name == _new and _mine is not None:
    runbook.step(
        name="Replay everything, promote, a slot for the old primary",
        function=switchover.promote,
        spec=_mine,
        old=_old,
        pgbouncer=_pooled,
    )
# Right after the promotion: the clients' wait ends here, not after the files below.
if host.name == _old and _pooled and _mine is not None:
    _release = "Send the clients on to the new primary (pgBouncer KILL, RESUME)"
    runbook.step(_release, switchover.release_clients, spec=_mine, _if=_promoted)
if host.name == _new and _mine is not None:
    _rules = replication.replication_rules(_mine, standby.standby_addresses([_old], _plan.specs))
    base_settings_file(
        _mine.postgres, config.base_settings(_mine.postgres, _mine.backup), _if=_promoted
    )
    hba_file(_mine, _groups, _rules, _if=_promoted)
    systemd.service(
        name="Reload the new primary's configuration",
        service=service_name(_mine.postgres),
        reloaded=True,
        _if=_promoted,
    )
if host.name == _old and _mine is not None:
    _up = replication.upstream(_mine, _plan.specs)
    assert _up is not None
    base_settings_file(
        _mine.postgres,
        {
            **config.base_settings(_mine.postgres, _mine.backup),
            **replication.standby_settings(host.name, _up),
        },
        _if=_promoted,
    )
    hba_file(_mine, _groups, [], _if=_promoted)
    pgpass_file(_up, _if=_promoted)
    runbook.step(
        name="Follow the new primary as its standby, report",
        function=switchover.follow,
        spec=_mine,
        new=_new,
        pgbouncer=_pooled,
    )
