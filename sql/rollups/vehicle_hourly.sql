{# A Jinja2 template, like every rollup query: source and bucket come from sql/timeseries.yml. #}
-- Hourly per-vehicle summary. avg_speed averages moving samples only (speed > 0);
-- last_* is the position at the newest sample of the hour.
SELECT time_bucket(INTERVAL '{{ bucket }}', time) AS bucket,
       license_plate,
       count(*) AS samples,
       avg(speed) FILTER (WHERE speed > 0) AS avg_speed,
       max(speed) AS max_speed,
       max(time) AS last_time,
       last(longitude, time) AS last_longitude,
       last(latitude, time) AS last_latitude,
       last(geom, time) AS last_geom
FROM {{ source }}
GROUP BY bucket, license_plate
