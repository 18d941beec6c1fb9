-- Size and compression ratio per hypertable (compression stats need the licensed build).
CREATE VIEW timestack.hypertable_sizes AS
SELECT format('%s.%s', h.hypertable_schema, h.hypertable_name) AS hypertable,
       h.num_chunks,
       hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass)
           AS total_bytes,
       c.number_compressed_chunks,
       c.before_compression_total_bytes,
       c.after_compression_total_bytes,
       round(1 - c.after_compression_total_bytes::numeric
                 / nullif(c.before_compression_total_bytes, 0), 3) AS compression_saving
FROM timescaledb_information.hypertables h
LEFT JOIN LATERAL hypertable_compression_stats(
    format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) c ON true;
