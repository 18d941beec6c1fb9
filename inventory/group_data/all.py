"""Data for every host (pyinfra group `all`).

Every Timestack default lives in roles/spec/<section>.py; group files set only what differs.
Each top-level name here is one section of host data: common, postgres, pgbouncer, kafka,
backup, schema (anything else is reported as a typo, except pyinfra keys such as `_sudo`
and connector keys such as `ssh_user`). pyinfra itself merges data by top-level name;
Timestack (roles/hostdata.py) merges the section dictionaries key by key instead, in the
order all.py < group files < host data, and a list always replaces the one before it.
Keep helper names out of these files: every top-level name becomes host data.
"""

# Site-wide host basics. Defaults: timezone UTC, apt cache 3600 s, nofile 65536, THP never,
# sysctl vm.swappiness=1, vm.max_map_count=262144, net.core.somaxconn=4096,
# fs.file-max=2097152 (your sysctl keys are merged over these).
common = {
    # Stated on purpose although it is the default: time-series timestamps, logs and the
    # backup timers (backup.schedule) all read the host clock in this zone.
    "timezone": "UTC",
}
