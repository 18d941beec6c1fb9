"""Per-table counters and the latency histogram, served in Prometheus's text format."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .messages import Message, Written

# Latency buckets (seconds) of produce -> committed row: the P95 target is 1 s.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class TableMetrics:
    rows: int = 0
    duplicates: int = 0
    rejects: int = 0
    batches: int = 0
    copy_batches: int = 0
    batch_seconds: float = 0.0
    last_commit: float = 0.0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0

    def record(
        self, written: Written, seconds: float, committed: float, batch: Iterable[Message]
    ) -> None:
        self.rows += written.rows
        self.duplicates += written.duplicates
        self.rejects += len(written.rejects)
        self.batches += 1
        self.copy_batches += int(written.copied)
        self.batch_seconds += seconds
        self.last_commit = committed
        for message in batch:
            kind, stamp = message.timestamp()
            if kind and stamp > 0:
                latency = max(0.0, committed - stamp / 1000)
                self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, latency)] += 1
                self.latency_sum += latency


def exposition(metrics: Mapping[str, TableMetrics], host: str, up_since: float) -> str:
    """Prometheus text format of every table's counters and latency histogram."""
    lines: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        lines.extend(
            [f"# HELP timestack_ingest_{name} {text}", f"# TYPE timestack_ingest_{name} {kind}"]
        )

    family("start_time_seconds", "gauge", "When this writer started.")
    lines.append(f'timestack_ingest_start_time_seconds{{writer="{host}"}} {up_since:.3f}')
    counters = (
        ("rows_total", "rows", "Rows written (committed)."),
        ("duplicates_total", "duplicates", "Redelivered messages whose row existed."),
        ("rejects_total", "rejects", "Messages kept in the rejects table instead of a row."),
        ("batches_total", "batches", "Batches committed."),
        ("copy_batches_total", "copy_batches", "Batches written by the COPY fast path."),
        ("batch_seconds_total", "batch_seconds", "Time spent writing batches."),
    )
    for name, attribute, text in counters:
        family(name, "counter", text)
        for table, m in metrics.items():
            lines.append(f'timestack_ingest_{name}{{table="{table}"}} {getattr(m, attribute)}')
    family("last_commit_timestamp_seconds", "gauge", "When a batch of the table last committed.")
    for table, m in metrics.items():
        lines.append(
            f'timestack_ingest_last_commit_timestamp_seconds{{table="{table}"}} {m.last_commit:.3f}'
        )
    family("latency_seconds", "histogram", "From a message's Kafka timestamp to its row's commit.")
    for table, m in metrics.items():
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), m.latency_counts, strict=True):
            cumulative += count
            labels = f'table="{table}",le="{bound}"'
            lines.append(f"timestack_ingest_latency_seconds_bucket{{{labels}}} {cumulative}")
        lines.append(f'timestack_ingest_latency_seconds_sum{{table="{table}"}} {m.latency_sum:.3f}')
        lines.append(f'timestack_ingest_latency_seconds_count{{table="{table}"}} {cumulative}')
    return "\n".join(lines) + "\n"


def serve_metrics(address: str, port: int, render: Callable[[], str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes are not news

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
