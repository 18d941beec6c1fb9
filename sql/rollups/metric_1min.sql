{# A Jinja2 template, like every rollup query: source and bucket come from sql/timeseries.yml. #}
-- Per metric and minute. Numeric values (int or real) keep count, sum, min and max so the
-- hour and day levels can re-aggregate exactly; value_avg is derived as sum / count.
SELECT time_bucket(INTERVAL '{{ bucket }}', ts) AS bucket,
       metric_def_id,
       count(*) AS samples,
       count(coalesce(value_real, value_int)) AS value_count,
       sum(coalesce(value_real, value_int)) AS value_sum,
       min(coalesce(value_real, value_int)) AS value_min,
       max(coalesce(value_real, value_int)) AS value_max,
       sum(coalesce(value_real, value_int)) / nullif(count(coalesce(value_real, value_int)), 0)
           AS value_avg,
       count(*) FILTER (WHERE value_bool) AS true_count
FROM {{ source }}
GROUP BY bucket, metric_def_id
