-- Vehicle telemetry (VDRS). The primary key leads with license_plate: writes from many
-- vehicles spread over the index instead of piling onto its newest edge, and per-vehicle
-- range queries are the common read.
CREATE TABLE telemetry.vehicles (
    license_plate varchar(20) PRIMARY KEY,
    tenant_id varchar(50)  -- whose data it is: per-tenant retention (config.retention_policies)
);

CREATE TABLE telemetry.vehicle_telemetry (
    license_plate varchar(20) NOT NULL,
    time timestamptz NOT NULL,
    longitude double precision,
    latitude double precision,
    -- Derived once at write time; only geom is kept (distances cast to geography on demand).
    geom geometry(Point, 4326) GENERATED ALWAYS AS (
        CASE WHEN longitude IS NOT NULL AND latitude IS NOT NULL
             THEN ST_SetSRID(ST_MakePoint(longitude, latitude), 4326) END
    ) STORED,
    speed numeric(5, 1),
    gps_speed numeric(5, 1),
    gps_status char(1),  -- 'A' valid fix, 'V' void
    driver_id varchar(32),
    raw_data jsonb,
    -- Hot fields flattened out of raw_data so filters need no JSON access.
    ignition boolean,
    engine_on boolean,
    fuel_level smallint CHECK (fuel_level BETWEEN 0 AND 100),
    battery_voltage numeric(4, 2),
    PRIMARY KEY (license_plate, time)
);

-- Retention per tenant and data type (data_type = table name without schema); the
-- retention job keeps chunks for the longest and deletes rows of shorter-keeping tenants.
CREATE TABLE config.retention_policies (
    tenant_id varchar(50) NOT NULL,
    data_type varchar(50) NOT NULL,
    retention_days integer NOT NULL CHECK (retention_days > 0),
    compression_days integer CHECK (compression_days > 0),
    regulatory_requirement text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, data_type)
);

-- Latest fix per vehicle. A LATERAL probe per vehicle walks the primary key backwards:
-- DISTINCT ON would scan every row (no SkipScan in the Apache build).
CREATE VIEW telemetry.vehicle_latest AS
SELECT v.license_plate, v.tenant_id, t.time, t.longitude, t.latitude, t.geom, t.speed,
       t.gps_status, t.ignition, t.engine_on, t.fuel_level, t.battery_voltage
FROM telemetry.vehicles v
CROSS JOIN LATERAL (
    SELECT * FROM telemetry.vehicle_telemetry x
    WHERE x.license_plate = v.license_plate
    ORDER BY x.time DESC
    LIMIT 1
) t;
