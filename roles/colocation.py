"""Memory one service takes from a host that it shares with another.

The Kafka role sizes its JVM heap here, and PostgreSQL's tuning subtracts the same figure
when both run on one host: one function, so the two can never disagree.
"""

from __future__ import annotations

GIB = 1024**3


def kafka_heap_bytes(memory_bytes: int, heap: int | None) -> int:
    """Kafka's JVM heap: as configured, else a quarter of RAM within 1-6 GiB.

    Kafka lives on the page cache, not the heap; Confluent's sizing stops at 6 GiB.
    """
    if heap is not None:
        return heap
    return min(6 * GIB, max(1 * GIB, memory_bytes // 4))
