-- Timestack's retention, on both editions: per-tenant horizons that TimescaleDB's native
-- retention policy does not know. The 40-retention units fill timestack.retention_jobs; a
-- systemd timer (apache edition) or a TimescaleDB job (timescale edition, tables with
-- tenants) calls timestack.run_retention().

CREATE TABLE IF NOT EXISTS timestack.retention_jobs (
    hypertable text PRIMARY KEY,
    time_column text NOT NULL,
    drop_after interval NOT NULL,
    tenant_policies text,  -- table (tenant_id, data_type, retention_days), may not exist yet
    tenant_map text,       -- table (tenant_id, <tenant_key>)
    tenant_key text
);

-- What the jobs did; the job-health view reads it. Rows older than 30 days are pruned.
CREATE TABLE IF NOT EXISTS timestack.job_runs (
    job text NOT NULL,
    target text NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail text NOT NULL
);
CREATE INDEX IF NOT EXISTS job_runs_finished_idx ON timestack.job_runs (job, target, finished_at);

-- Chunks can only go once no tenant still keeps their data: the horizon is the longest of
-- the spec's drop_after and every tenant's retention for this table.
CREATE OR REPLACE FUNCTION timestack.retention_horizon(job timestack.retention_jobs)
RETURNS interval LANGUAGE plpgsql STABLE AS $$
DECLARE
    longest interval;
BEGIN
    IF job.tenant_policies IS NULL OR to_regclass(job.tenant_policies) IS NULL
            OR to_regclass(job.tenant_map) IS NULL THEN
        RETURN job.drop_after;
    END IF;
    EXECUTE format(
        'SELECT max(retention_days) * INTERVAL ''1 day'' FROM %s WHERE data_type = $1',
        job.tenant_policies)
        INTO longest USING split_part(job.hypertable, '.', 2);
    RETURN greatest(job.drop_after, longest);  -- greatest() ignores a NULL (no tenant rows)
END
$$;

CREATE OR REPLACE FUNCTION timestack.run_retention(as_of timestamptz DEFAULT now())
RETURNS TABLE (hypertable text, horizon interval, dropped_chunks bigint, deleted_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    rt timestack.retention_jobs;
    tenant record;
    deleted bigint;
BEGIN
    FOR rt IN SELECT * FROM timestack.retention_jobs j ORDER BY j.hypertable LOOP
        hypertable := rt.hypertable;
        horizon := timestack.retention_horizon(rt);
        deleted_rows := 0;
        IF rt.tenant_policies IS NOT NULL AND to_regclass(rt.tenant_policies) IS NOT NULL
                AND to_regclass(rt.tenant_map) IS NOT NULL THEN
            -- Tenants keeping less than the horizon lose their old rows one by one.
            FOR tenant IN EXECUTE format(
                    'SELECT tenant_id, retention_days * INTERVAL ''1 day'' AS keep '
                    'FROM %s WHERE data_type = $1', rt.tenant_policies)
                    USING split_part(rt.hypertable, '.', 2) LOOP
                CONTINUE WHEN tenant.keep >= horizon;
                EXECUTE format(
                    'DELETE FROM %s t USING %s m WHERE m.%I = t.%I AND m.tenant_id = $1 '
                    'AND t.%I < $2', rt.hypertable, rt.tenant_map, rt.tenant_key,
                    rt.tenant_key, rt.time_column)
                    USING tenant.tenant_id, as_of - tenant.keep;
                GET DIAGNOSTICS deleted = ROW_COUNT;
                deleted_rows := deleted_rows + deleted;
            END LOOP;
            -- Rows of no tenant with a policy keep the spec's drop_after.
            IF horizon > rt.drop_after THEN
                EXECUTE format(
                    'DELETE FROM %1$s t WHERE t.%4$I < $1 AND NOT EXISTS (SELECT FROM %2$s m '
                    'JOIN %3$s p ON p.tenant_id = m.tenant_id AND p.data_type = $2 '
                    'WHERE m.%5$I = t.%5$I)', rt.hypertable, rt.tenant_map,
                    rt.tenant_policies, rt.time_column, rt.tenant_key)
                    USING as_of - rt.drop_after, split_part(rt.hypertable, '.', 2);
                GET DIAGNOSTICS deleted = ROW_COUNT;
                deleted_rows := deleted_rows + deleted;
            END IF;
        END IF;
        SELECT count(*) INTO dropped_chunks
            FROM drop_chunks(rt.hypertable::regclass, older_than => as_of - horizon);
        INSERT INTO timestack.job_runs (job, target, detail) VALUES ('retention', rt.hypertable,
            format('horizon %s: %s chunks dropped, %s rows deleted', horizon, dropped_chunks,
                   deleted_rows));
        RETURN NEXT;
    END LOOP;
    DELETE FROM timestack.job_runs r WHERE r.job = 'retention'
        AND r.finished_at < as_of - INTERVAL '30 days';
END
$$;

-- Entry point of the TimescaleDB job the timescale edition schedules for tables with tenants.
CREATE OR REPLACE PROCEDURE timestack.retention_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM timestack.run_retention();
END
$$;
