-- Retention with TimescaleDB's policies: each policy's drop_after and the chunks it would
-- drop now.
CREATE VIEW timestack.retention_status AS
SELECT format('%s.%s', j.hypertable_schema, j.hypertable_name) AS hypertable,
       (j.config->>'drop_after')::interval AS drop_after,
       (j.config->>'drop_after')::interval AS horizon,
       (SELECT count(*) FROM show_chunks(format('%I.%I', j.hypertable_schema,
                                                j.hypertable_name)::regclass)) AS chunks,
       (SELECT count(*) FROM show_chunks(
            format('%I.%I', j.hypertable_schema, j.hypertable_name)::regclass,
            older_than => now() - (j.config->>'drop_after')::interval))
           AS chunks_eligible_to_drop,
       s.last_successful_finish AS last_run
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.proc_name = 'policy_retention';
