"""Data for hosts in group `timescaledb`: PostgreSQL + TimescaleDB (+ PostGIS).

Model defaults that apply unchanged (roles/spec/postgres.py): PostgreSQL 17 from the
Timescale repository (package versions: any 17 minor, TimescaleDB 2.x; docs/common.md,
"Package versions"), port 5432, cluster "main", max_connections 200 of which 3 are kept for
superusers; memory, CPU and disk are detected (postgres.tuning overrides them). Passwords are
never written here: each role names the environment variable that holds its password on the
machine running pyinfra.
"""

postgres = {
    "postgis": True,  # the telemetry schema stores vehicle positions
    # Listen everywhere; the hba rules below decide who may connect (scram-sha-256 only).
    "listen_addresses": ["*"],
    "roles": [
        # Owns the schema; the schema role migrates as this user.
        {"name": "telemetry_owner", "password_env": "TIMESTACK_PG_OWNER_PASSWORD"},
        # What writers (Kafka consumers) and the backend API log in as, via pgBouncer.
        {"name": "telemetry_app", "password_env": "TIMESTACK_PG_APP_PASSWORD"},
        # The ingest writers (group ingest, roles/ingest): the time-series spec's ingest.role,
        # granted INSERT on the tables its ingest: blocks name and nothing else.
        {"name": "timestack_ingest", "password_env": "TIMESTACK_PG_INGEST_PASSWORD"},
        # Dashboards and ad-hoc analysis; its SELECT grants come from the schema SQL.
        {"name": "telemetry_ro", "password_env": "TIMESTACK_PG_RO_PASSWORD"},
        # The PostgreSQL exporter (roles/monitoring): statistics views through pg_monitor,
        # Timestack's job-health views through telemetry_ro; never a superuser.
        {
            "name": "timestack_monitor",
            "password_env": "TIMESTACK_PG_MONITOR_PASSWORD",
            "member_of": ["pg_monitor", "telemetry_ro"],
        },
    ],
    "databases": [
        {
            "name": "telemetry",
            "owner": "telemetry_owner",
            # pg_stat_statements is created too, in every database: it is always preloaded.
            "extensions": ["timescaledb", "postgis"],
        },
    ],
    # Every TCP rule is hostssl (the default type): clients use TLS, and verify the server
    # with Timestack's CA at /etc/timestack/tls/ca.crt (docs/tls.md). A rule that admits
    # clients without TLS must say so on the host: "type": "host", "allow_without_tls": True.
    "hba": [
        # Local tools and the PostgreSQL exporter on the database host itself (pgBouncer
        # reaches PostgreSQL over the Unix socket, where these rules do not apply).
        {"type": "hostssl", "database": "telemetry", "user": "all", "address": "127.0.0.1/32"},
        {"type": "hostssl", "database": "telemetry", "user": "all", "address": "::1/128"},
        # PLACEHOLDER application subnet: replace 10.20.0.0/24 with your own network.
        {
            "type": "hostssl",
            "database": "telemetry",
            "user": "telemetry_app,telemetry_ro",
            "address": "10.20.0.0/24",
        },
        # PLACEHOLDER subnet of the ingest writers (group ingest: the Kafka hosts in
        # inventory/prod.py); they connect to PostgreSQL directly, over TLS.
        {
            "type": "hostssl",
            "database": "telemetry",
            "user": "timestack_ingest",
            "address": "10.20.1.0/24",
        },
    ],
}
