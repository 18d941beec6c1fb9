#!/usr/bin/env python3
"""Timestack's ingest writer: Kafka topics into TimescaleDB hypertables, one row per message.

    python3 -m timestack_ingest --config /etc/timestack/ingest.json

Run ON an ingest host by `timestack-ingest.service` (roles/ingest), with Debian's
python3-confluent-kafka and python3-psycopg. Each writer is a member of one consumer group:
Kafka spreads the partitions over the writers, moves them when one stops and holds the
offsets. The loop, per topic (one table each):

1. consume JSON objects, one row per message, keys named as the table's columns (unknown
   keys are ignored; a column the message lacks is NULL);
2. when `batch_rows` messages are waiting or the oldest has waited `batch_wait_ms`, write
   them in ONE transaction: a COPY straight into the table (the fast path), or, when the
   COPY fails (a redelivered row that exists already, a bad value), one set-based
   `INSERT … SELECT … jsonb_populate_record … ON CONFLICT` split in halves until every bad
   message stands alone; bad messages go to the rejects table in the same transaction,
   with topic, partition, offset, key, the raw bytes and the error;
3. commit the offsets after the database commit: a crash in between redelivers rows that
   the conflict policy writes once.

The database being down, restarting or read-only (a switchover) is not the data's fault:
the batch is kept, the partitions are paused, the writer retries with backoff (libpq's
`target_session_attrs=read-write` finds the new primary) and resumes by itself; no offset
is committed meanwhile. A rebalance finishes the batch first, or abandons it uncommitted.

Metrics (Prometheus text format) are served on `metrics.address:metrics.port`.
Standard library only at import time: the unit tests import the pure helpers.
"""
