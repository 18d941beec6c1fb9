-- Timescale edition: tables with per-tenant retention have no native retention policy; the
-- TimescaleDB job timestack.retention_job runs timestack.run_retention() for them. Their
-- rows join the native policies' in retention_status, and Timestack's own jobs join
-- job_health (the views of 020 and 030 stay, renamed policy_*).
ALTER VIEW timestack.retention_status RENAME TO policy_retention_status;
CREATE VIEW timestack.retention_status AS
SELECT * FROM timestack.policy_retention_status
UNION ALL
SELECT r.hypertable,
       r.drop_after,
       timestack.retention_horizon(r),
       (SELECT count(*) FROM show_chunks(r.hypertable::regclass)),
       (SELECT count(*) FROM show_chunks(r.hypertable::regclass,
                                          older_than => now() - timestack.retention_horizon(r))),
       (SELECT max(x.finished_at) FROM timestack.job_runs x
        WHERE x.job = 'retention' AND x.target = r.hypertable)
FROM timestack.retention_jobs r;

ALTER VIEW timestack.job_health RENAME TO policy_job_health;
CREATE VIEW timestack.job_health AS
SELECT * FROM timestack.policy_job_health
UNION ALL
SELECT j.proc_schema || '.' || j.proc_name, j.proc_schema || '.' || j.proc_name,
       j.schedule_interval, s.last_successful_finish,
       format('%s runs, %s failures, last %s', s.total_runs, s.total_failures,
              s.last_run_status),
       coalesce(s.last_run_status = 'Success' OR s.total_runs = 0, true)
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.proc_schema = 'timestack';
