"""Data for hosts in group `pgbackrest_repo`: the pgBackRest repository host.

Nothing differs from the model defaults, so this file sets no data; it documents them.
Database hosts default to backup.repo_type "posix": they back up to a repository host over
pgBackRest's TLS transport, and with exactly one host in this group backup.repo_host is
filled in with it. The repository host keeps the backups in /var/lib/pgbackrest (stanza
"main", zstd compression) and runs the timers: a full backup on Sundays and a differential
one Monday to Saturday, at 01:00, keeping 2 full and 7 differential backups.

Stanza, paths, retention and schedule are read on both sides, so change them in all.py
(`backup = {...}`), never here alone: the database hosts and the repository must agree.
"""
