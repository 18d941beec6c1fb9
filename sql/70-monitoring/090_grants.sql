-- Dashboards (telemetry_ro) read every monitoring view; the views read the catalogue and
-- Timestack's tables with their owner's rights, so the tables need no grant.
GRANT USAGE ON SCHEMA timestack TO telemetry_ro;
DO $grant$
DECLARE
    view regclass;
BEGIN
    FOR view IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'timestack' AND c.relkind = 'v' LOOP
        EXECUTE format('GRANT SELECT ON %s TO telemetry_ro', view);
    END LOOP;
END
$grant$;
