-- Timestack's apache-edition engine: what TimescaleDB's licensed policies do, as plain
-- PL/pgSQL that systemd timers call (timestack-retention.timer, timestack-rollups.timer).
-- The 40-retention and 60-rollups units fill the two job tables from the time-series spec.

CREATE TABLE IF NOT EXISTS timestack.retention_jobs (
    hypertable text PRIMARY KEY,
    time_column text NOT NULL,
    drop_after interval NOT NULL,
    tenant_policies text,  -- table (tenant_id, data_type, retention_days), may not exist yet
    tenant_map text,       -- table (tenant_id, <tenant_key>)
    tenant_key text
);

CREATE TABLE IF NOT EXISTS timestack.rollup_jobs (
    name text PRIMARY KEY,
    source text NOT NULL,
    bucket interval NOT NULL,
    bucket_column text NOT NULL,
    start_offset interval NOT NULL,
    end_offset interval NOT NULL,
    every interval NOT NULL,
    position integer NOT NULL,  -- dependency order: sources first
    query text NOT NULL,
    last_window_start timestamptz,
    last_window_end timestamptz,
    last_refreshed_at timestamptz
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

-- Each rollup in dependency order, each in its own transaction: delete the window's
-- buckets and insert them again from the source, so re-running a window gives the same rows.
-- The window is [now - start_offset, now - end_offset), both ends floored to the bucket, as
-- a continuous aggregate's refresh policy does. A rollup is due once 90% of `every` has
-- passed, so timer jitter never skips a run; `force` refreshes all of them now.
CREATE OR REPLACE PROCEDURE timestack.refresh_rollups(force boolean DEFAULT false,
                                                      as_of timestamptz DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    rj timestack.rollup_jobs;
    moment timestamptz;
    window_start timestamptz;
    window_end timestamptz;
    inserted bigint;
BEGIN
    FOR rj IN SELECT * FROM timestack.rollup_jobs ORDER BY position LOOP
        moment := coalesce(as_of, clock_timestamp());
        CONTINUE WHEN NOT force AND rj.last_refreshed_at IS NOT NULL
            AND rj.last_refreshed_at + rj.every * 0.9 > moment;
        -- Two runs at once (timer and a manual start) must not both insert the window.
        PERFORM pg_advisory_xact_lock(hashtext('timestack.refresh_rollups ' || rj.name));
        window_start := time_bucket(rj.bucket, moment - rj.start_offset);
        window_end := time_bucket(rj.bucket, moment - rj.end_offset);
        EXECUTE format('DELETE FROM %s WHERE %I >= $1 AND %I < $2', rj.name,
            rj.bucket_column, rj.bucket_column) USING window_start, window_end;
        -- Literal bounds (not parameters) so TimescaleDB can exclude chunks at plan time.
        EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS q WHERE q.%I >= %L::timestamptz '
            'AND q.%I < %L::timestamptz', rj.name, rj.query, rj.bucket_column, window_start,
            rj.bucket_column, window_end);
        GET DIAGNOSTICS inserted = ROW_COUNT;
        UPDATE timestack.rollup_jobs SET last_window_start = window_start,
            last_window_end = window_end, last_refreshed_at = moment WHERE name = rj.name;
        INSERT INTO timestack.job_runs (job, target, detail) VALUES ('rollups', rj.name,
            format('window [%s, %s): %s rows', window_start, window_end, inserted));
        COMMIT;
    END LOOP;
    DELETE FROM timestack.job_runs WHERE job = 'rollups'
        AND finished_at < clock_timestamp() - INTERVAL '30 days';
END
$$;
