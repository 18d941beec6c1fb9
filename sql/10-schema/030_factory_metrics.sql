-- Factory metrics (MS5.0): one row per sample of one metric; exactly one value column is
-- set, by the metric's type.
CREATE TABLE factory_telemetry.metric_def (
    metric_def_id integer PRIMARY KEY,
    equipment_code text NOT NULL,
    name text NOT NULL,
    value_type text NOT NULL CHECK (value_type IN ('bool', 'int', 'real')),
    unit text,
    UNIQUE (equipment_code, name)
);

CREATE TABLE factory_telemetry.metric_hist (
    metric_def_id integer NOT NULL,
    ts timestamptz NOT NULL,
    value_bool boolean,
    value_int bigint,
    value_real double precision,
    PRIMARY KEY (metric_def_id, ts),
    CHECK (num_nonnulls(value_bool, value_int, value_real) = 1)
);
