-- Retention on the Apache build: the scheduled job's horizon (tenants included) and the
-- chunks it would drop now.
CREATE VIEW timestack.retention_status AS
SELECT r.hypertable,
       r.drop_after,
       timestack.retention_horizon(r) AS horizon,
       (SELECT count(*) FROM show_chunks(r.hypertable::regclass)) AS chunks,
       (SELECT count(*) FROM show_chunks(r.hypertable::regclass,
                                          older_than => now() - timestack.retention_horizon(r)))
           AS chunks_eligible_to_drop,
       (SELECT max(j.finished_at) FROM timestack.job_runs j
        WHERE j.job = 'retention' AND j.target = r.hypertable) AS last_run
FROM timestack.retention_jobs r;
