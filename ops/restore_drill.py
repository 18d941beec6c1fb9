"""Prove point-in-time recovery on every primary database host, without touching the live cluster:

    pyinfra -y inventory/lab.py ops/restore_drill.py [--data drill_port=55432 drill_rows=1000]

Writes marker rows (a hypertable in database timestack_drill), notes a target time between
two batches, restores the latest backup + archived WAL to that time into a scratch data
directory on a scratch port, compares, prints a one-screen report, then stops and removes
the scratch cluster. Any difference fails the run (non-zero exit). Needs a backup taken
before the drill (deploy takes the first full one; ops/backup_now.py takes more). A standby
(postgres.upstream) is read-only and shares its primary's stanza: the drill on the primary
covers it.
"""

from pyinfra import host, inventory

from roles.backup import runbook
from roles.backup.drill_run import restore_drill
from roles.hostdata import validated_specs

# --data keys of this runbook are not host data
_specs = validated_specs(inventory, not_host_data=("drill_port", "drill_rows"))
if "timescaledb" in host.groups and _specs[host.name].postgres.upstream is None:
    runbook.step(
        name="Restore drill: PITR into a scratch cluster, compared with the live data",
        function=restore_drill,
        spec=_specs[host.name],
        port=int(host.data.get("drill_port", 55432)),
        rows=int(host.data.get("drill_rows", 1000)),
    )
