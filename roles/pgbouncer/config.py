"""What the pgbouncer role wants, as pure data: pgbouncer.ini settings, limits, the lookup SQL.

Authentication keeps no password on disk: clients authenticate with SCRAM against the secret
pgBouncer reads from pg_authid through a SECURITY DEFINER function (auth_query), and reuses
it towards PostgreSQL (SCRAM pass-through). The lookup role logs in by peer authentication
over the Unix socket, mapped from the postgres OS user pgBouncer runs as.
"""

from __future__ import annotations

import hashlib

from roles.paths import TlsPaths, tls_paths
from roles.pins import Pin
from roles.spec import PgbouncerSpec
from roles.sql import quote_ident, quote_literal

CONF_DIR = "/etc/pgbouncer"
INI = f"{CONF_DIR}/pgbouncer.ini"
HBA = f"{CONF_DIR}/hba.conf"
USERLIST = f"{CONF_DIR}/userlist.txt"
SOCKET_DIR = "/var/run/postgresql"
SERVICE = "pgbouncer"
BINARY = "/usr/sbin/pgbouncer"  # Debian's
OS_USER = "postgres"  # Debian's pgbouncer.service runs as postgres
IDENT_MAP = "timestack_pgbouncer"
LOOKUP_SCHEMA = "pgbouncer"
# This host's key and certificate from Timestack's CA, as pgBouncer reads them.
TLS: TlsPaths = tls_paths("pgbouncer")
# Changing these needs a restart (new sockets); everything else is applied by a reload.
LISTEN_KEYS = ("listen_addr", "listen_port", "unix_socket_dir")


def settings(bouncer: PgbouncerSpec) -> dict[str, str]:
    """The [pgbouncer] section; SHOW CONFIG must report the same values."""
    values = {
        "listen_addr": bouncer.listen_addr,
        "listen_port": str(bouncer.listen_port),
        "unix_socket_dir": SOCKET_DIR,
        "auth_type": "hba",
        "auth_hba_file": HBA,
        # Users of the admin console must be in auth_file; everyone else is looked up by
        # auth_query, as each database's auth_user (a global auth_user would be tried for
        # the admin console too, which pgBouncer refuses).
        "auth_file": USERLIST,
        "auth_query": f"SELECT usename, passwd FROM {LOOKUP_SCHEMA}.get_auth($1)",
        "admin_users": ",".join([OS_USER, *bouncer.admin_users]),
        "stats_users": ",".join(bouncer.stats_users),
        "pool_mode": bouncer.pool_mode,
        "max_client_conn": str(bouncer.client_limit),
        "default_pool_size": str(bouncer.default_pool_size),
        "reserve_pool_size": str(bouncer.reserve_pool_size),
        "reserve_pool_timeout": str(bouncer.reserve_pool_timeout),
        # Session state must not leak between clients: DISCARD ALL when a session-mode client
        # leaves. In transaction mode pgBouncer skips it (server_reset_query_always = 0), as
        # each transaction already ends clean and DISCARD per transaction would cost a round trip.
        "server_reset_query": "DISCARD ALL",
        "server_reset_query_always": "0",
        # Protocol-level prepared statements work in transaction mode since pgBouncer 1.21.
        "max_prepared_statements": "200",
        "ignore_startup_parameters": "extra_float_digits",
    }
    # Towards clients: this host's certificate from Timestack's CA. Towards PostgreSQL: none,
    # as pgBouncer reaches it over the local Unix socket only (pgbouncer.databases[].host
    # must be local), where TLS does not apply and the traffic never leaves the host.
    values["client_tls_sslmode"] = bouncer.client_tls_sslmode
    if bouncer.client_tls_sslmode != "disable":
        values |= {
            "client_tls_cert_file": TLS.cert,
            "client_tls_key_file": TLS.key,
            "client_tls_ca_file": TLS.ca,
        }
    return values


def same_value(wanted: str, running: str | None) -> bool:
    """SHOW CONFIG prints numbers its own way (5 for 5.0): compare numbers as numbers."""
    if running is None:
        return False
    try:
        return float(wanted) == float(running)
    except ValueError:
        return wanted == running


def open_files_limit(bouncer: PgbouncerSpec) -> int:
    """Every client and every server connection is a socket; leave room for the rest."""
    servers = (bouncer.default_pool_size + bouncer.reserve_pool_size) * max(
        1, len(bouncer.databases)
    )
    return max(4096, 2 * (bouncer.client_limit + servers) + 256)


def lookup_sql(auth_user: str) -> str:
    """The lookup role and function, idempotent; superusers can never log in through it."""
    role, literal = quote_ident(auth_user), quote_literal(auth_user)
    return f"""\
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal}) THEN
    CREATE ROLE {role} LOGIN;
  END IF;
END$$;
ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD NULL;
CREATE SCHEMA IF NOT EXISTS {LOOKUP_SCHEMA};
CREATE OR REPLACE FUNCTION {LOOKUP_SCHEMA}.get_auth(p_usename text)
RETURNS TABLE (usename name, passwd text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
  SELECT rolname, rolpassword FROM pg_authid
  WHERE rolname = p_usename AND rolcanlogin AND NOT rolsuper
    AND (rolvaliduntil IS NULL OR rolvaliduntil > now())
$fn$;
REVOKE ALL ON FUNCTION {LOOKUP_SCHEMA}.get_auth(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA {LOOKUP_SCHEMA} TO {role};
GRANT EXECUTE ON FUNCTION {LOOKUP_SCHEMA}.get_auth(text) TO {role};
"""


def lookup_marker(auth_user: str) -> str:
    """Recorded as the function's comment, so a fact can tell whether it is current."""
    return "timestack:" + hashlib.sha256(lookup_sql(auth_user).encode()).hexdigest()[:16]


PACKAGE = "pgbouncer"


def pins(bouncer: PgbouncerSpec) -> list[Pin]:
    return [Pin("pgbouncer.version", bouncer.version, (PACKAGE,))]
