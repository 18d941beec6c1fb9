-- Index usage per table; a hypertable's index is summed over its chunks' copies (a chunk's
-- index is named <chunk>_<index>), so an index never scanned on any chunk shows "unused".
CREATE VIEW timestack.index_usage AS
WITH per_relation AS (
    SELECT coalesce(ch.hypertable_schema, s.schemaname) AS schema_name,
           coalesce(ch.hypertable_name, s.relname) AS table_name,
           CASE WHEN ch.chunk_name IS NULL THEN s.indexrelname::text
                ELSE substr(s.indexrelname, length(ch.chunk_name) + 2) END AS index_name,
           s.idx_scan,
           s.idx_tup_read,
           pg_relation_size(s.indexrelid) AS size_bytes
    FROM pg_stat_user_indexes s
    LEFT JOIN timescaledb_information.chunks ch
        ON ch.chunk_schema = s.schemaname AND ch.chunk_name = s.relname
    WHERE s.schemaname <> 'timestack'
)
SELECT schema_name, table_name, index_name,
       count(*) AS copies,
       sum(idx_scan) AS scans,
       sum(idx_tup_read) AS tuples_read,
       sum(size_bytes) AS size_bytes,
       pg_size_pretty(sum(size_bytes)) AS size,
       CASE WHEN sum(idx_scan) = 0 THEN 'unused' WHEN sum(idx_scan) < 100 THEN 'rare'
            ELSE 'used' END AS usage
FROM per_relation
GROUP BY schema_name, table_name, index_name;
