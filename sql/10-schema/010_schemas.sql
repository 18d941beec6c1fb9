-- Schemas of the two example applications; the extensions (timescaledb, postgis) are
-- created by the postgres role from postgres.databases[].extensions.
CREATE SCHEMA IF NOT EXISTS telemetry;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS config;
CREATE SCHEMA IF NOT EXISTS factory_telemetry;
