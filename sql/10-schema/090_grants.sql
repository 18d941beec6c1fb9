-- Writers insert raw rows; readers see everything. Default privileges cover the tables
-- later phases create (rollups) in these schemas, since the migrator runs as their owner.
GRANT USAGE ON SCHEMA telemetry, analytics, config, factory_telemetry
    TO telemetry_app, telemetry_ro;
GRANT SELECT, INSERT ON telemetry.vehicle_telemetry, factory_telemetry.metric_hist
    TO telemetry_app;
GRANT SELECT, INSERT, UPDATE ON telemetry.vehicles, factory_telemetry.metric_def
    TO telemetry_app;
GRANT SELECT ON ALL TABLES IN SCHEMA telemetry, analytics, config, factory_telemetry
    TO telemetry_app, telemetry_ro;
ALTER DEFAULT PRIVILEGES IN SCHEMA telemetry, analytics, config, factory_telemetry
    GRANT SELECT ON TABLES TO telemetry_app, telemetry_ro;
