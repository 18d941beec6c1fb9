{# A Jinja2 template, like every rollup query: source and bucket come from sql/timeseries.yml. #}
-- Re-aggregates the level below ({{ source }}): counts and sums add up, min of mins, max of
-- maxes, and the average is recomputed from the summed sum and count.
SELECT time_bucket(INTERVAL '{{ bucket }}', bucket) AS bucket,
       metric_def_id,
       sum(samples)::bigint AS samples,
       sum(value_count)::bigint AS value_count,
       sum(value_sum) AS value_sum,
       min(value_min) AS value_min,
       max(value_max) AS value_max,
       sum(value_sum) / nullif(sum(value_count), 0) AS value_avg,
       sum(true_count)::bigint AS true_count
FROM {{ source }}
GROUP BY 1, metric_def_id
