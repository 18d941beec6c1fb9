"""Data for hosts in group `kafka`: Apache Kafka brokers in KRaft mode.

Model defaults (roles/spec_sections.py): Kafka 3.9.1 for Scala 2.13 from archive.apache.org,
unpacked under /opt, broker port 9092, controller port 9093, data in /var/lib/kafka/data,
heap derived from RAM. Kafka's own defaults already give 1 GiB log segments and 7-day
retention (log.segment.bytes, log.retention.hours), so only the thread counts are set.
"""

kafka = {
    "settings": {
        "num.network.threads": 8,  # sockets: many producers sending small batches
        "num.io.threads": 16,  # disk I/O: one per core on the 16-20 core brokers
    },
    # One topic per source kind, not per device: partitions carry the scale-out.
    # replication_factor stays 1 (the default) until group kafka has 3 or more brokers.
    "topics": [
        {
            "name": topic,
            "partitions": 10,
            "configs": {
                "compression.type": "snappy",
                "retention.ms": str(7 * 24 * 3600 * 1000),  # 7 days
            },
        }
        for topic in ("vehicle-telemetry", "factory-metrics")
    ],
}
