"""Data for hosts in group `kafka`: Apache Kafka brokers in KRaft mode.

Model defaults (roles/spec/kafka.py): Kafka 4.4.0 for Scala 2.13 from archive.apache.org
(checked against the .sha512 Apache publishes; pin kafka.archive_sha512 to rely on your own
record, or set kafka.archive to a local .tgz for air-gapped sites), unpacked under /opt with
/opt/kafka pointing at it, broker port 9092, controller port 9093, data in
/var/lib/kafka/data, heap a quarter of RAM within 1-6 GiB. The broker tuning (8 network and
16 I/O threads, 1 GiB segments, 7-day retention, snappy, 10 partitions, no auto-created
topics, replication from the number of brokers) is in roles/kafka/config.py with its
reasons; kafka.settings overrides any of it.
"""

kafka = {
    # One topic per source kind, not per device: partitions carry the scale-out.
    # Three copies of each partition, two of them in sync for an acks=all write: one broker
    # may be down (or restarting) without refusing writes or losing acknowledged data. With
    # fewer than 3 brokers (the single-box variant), lower both: the validator says so.
    "topics": [
        {
            "name": topic,
            "partitions": 10,
            "replication_factor": 3,
            "configs": {
                "compression.type": "snappy",
                "min.insync.replicas": "2",
                "retention.ms": str(7 * 24 * 3600 * 1000),  # 7 days
            },
        }
        for topic in ("vehicle-telemetry", "factory-metrics")
    ],
}
