"""Data for hosts in group `pgbouncer`: the connection pooler in front of PostgreSQL.

The model defaults are the sizing Timestack was built for, so they are not repeated here:
listen 127.0.0.1:6432, pool_mode transaction, clients 1000 (max_client_conn adds Timestack's
own 4: 1004), default_pool_size 50, reserve_pool_size 10 (reserve_pool_timeout 5 s),
auth_user pgbouncer_auth. On a host that
also runs PostgreSQL, (default_pool_size + reserve_pool_size) x databases must fit in
postgres.max_connections - superuser_reserved_connections: (50 + 10) x 1 = 60 <= 197.
Set listen_addr to "*" (and tls) when applications connect from other machines.
"""

pgbouncer = {
    # One pool per database; host defaults to 127.0.0.1, port to this host's postgres.port
    # and dbname to name.
    "databases": [{"name": "telemetry"}],
    # May run SHOW POOLS / SHOW STATS on the pgbouncer console (monitoring).
    "stats_users": ["telemetry_ro"],
}
