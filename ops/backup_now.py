"""Take a pgBackRest backup now, on every host that runs backups (the repository host, or
a database host with a local or S3 repository):

    pyinfra -y inventory/lab.py ops/backup_now.py --data backup_type=full   # or diff, incr

Prints the new backup's label, duration and size, and the stanza's state afterwards.
"""

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError

from roles.backup import config, runbook
from roles.hostdata import validated_specs

# --data keys of this runbook are not host data
_specs = validated_specs(inventory, not_host_data=("backup_type",))
_kind = str(host.data.get("backup_type", "full"))
if _kind not in config.BACKUP_TYPES:
    raise PyinfraError(f"backup_type {_kind!r}: one of {', '.join(config.BACKUP_TYPES)}")
_layout = config.layout(_specs[host.name], _specs.values())
for _stanza in _layout.stanzas if _layout.runs_backups else ():
    runbook.step(
        name=f"{_kind} backup of stanza {_stanza} now",
        function=runbook.backup_now,
        user=_layout.os_user,
        stanza=_stanza,
        kind=_kind,
    )
