-- Health of the scheduled jobs (systemd timers) of the Apache build: healthy while the last
-- successful run is younger than three periods.
CREATE VIEW timestack.job_health AS
SELECT 'rollup refresh' AS kind,
       r.name AS target,
       r.every AS schedule_interval,
       r.last_refreshed_at AS last_successful_finish,
       format('[%s, %s)', r.last_window_start, r.last_window_end) AS last_detail,
       coalesce(r.last_refreshed_at > now() - 3 * r.every, false) AS healthy
FROM timestack.rollup_jobs r
UNION ALL
SELECT 'retention', rt.hypertable, INTERVAL '1 day', last.finished_at, last.detail,
       coalesce(last.finished_at > now() - INTERVAL '3 days', false)
FROM timestack.retention_jobs rt
LEFT JOIN LATERAL (
    SELECT j.finished_at, j.detail FROM timestack.job_runs j
    WHERE j.job = 'retention' AND j.target = rt.hypertable
    ORDER BY j.finished_at DESC LIMIT 1
) last ON true;
