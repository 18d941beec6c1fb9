-- Health of TimescaleDB's background jobs (policies): healthy while the last run succeeded.
CREATE VIEW timestack.job_health AS
SELECT j.proc_name AS kind,
       coalesce(c.view_schema || '.' || c.view_name,
                j.hypertable_schema || '.' || j.hypertable_name) AS target,
       j.schedule_interval,
       s.last_successful_finish,
       format('%s runs, %s failures, last %s', s.total_runs, s.total_failures,
              s.last_run_status) AS last_detail,
       coalesce(s.last_run_status = 'Success' OR s.total_runs = 0, true) AS healthy
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
LEFT JOIN timescaledb_information.continuous_aggregates c
    ON c.materialization_hypertable_schema = j.hypertable_schema
    AND c.materialization_hypertable_name = j.hypertable_name
WHERE j.proc_name LIKE 'policy_%';
