-- Timestack's apache-edition engine: what TimescaleDB's continuous aggregates and their
-- policies do, as plain PL/pgSQL that a systemd timer calls (timestack-rollups.timer); it
-- follows engine_retention.sql (retention and the job_runs table) in the same unit. The
-- 60-rollups units fill timestack.rollup_jobs from the time-series spec.

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
