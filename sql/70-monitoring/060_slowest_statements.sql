-- The statements that take longest per call (pg_stat_statements, which the postgres role
-- preloads and creates in every application database; it covers the whole cluster), one row
-- per database, role and statement, times in milliseconds as the extension gives them:
--   SELECT datname, mean_exec_time, calls, query FROM timestack.slowest_statements LIMIT 10;
-- queryid is the label of the exporter's timestack_statements_* metrics.
CREATE VIEW timestack.slowest_statements AS
SELECT d.datname,
       r.rolname,
       s.queryid,
       sum(s.calls) AS calls,
       sum(s.total_exec_time) / nullif(sum(s.calls), 0) AS mean_exec_time,
       sum(s.total_exec_time) AS total_exec_time,
       sum(s.rows) AS rows,
       min(s.query) AS query
FROM pg_stat_statements s
JOIN pg_database d ON d.oid = s.dbid
JOIN pg_roles r ON r.oid = s.userid
GROUP BY d.datname, r.rolname, s.queryid
ORDER BY mean_exec_time DESC NULLS LAST;

-- With the reader's rights, not its owner's (PostgreSQL 15+): as on the extension's own view,
-- pg_read_all_stats members (timestack_monitor) see every text, other roles their own.
DO $invoker$
BEGIN
    IF current_setting('server_version_num')::int >= 150000 THEN
        ALTER VIEW timestack.slowest_statements SET (security_invoker = true);
    END IF;
END
$invoker$;

-- 090_grants.sql may have run before this file existed.
GRANT SELECT ON timestack.slowest_statements TO telemetry_ro;
