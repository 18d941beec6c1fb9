"""The ingest writers against the limit they are measured by, on a deployed inventory:

    python -m bench.ingest [--inventory inventory/lab.py] [--messages 200000]
                           [--rate 5000] [--seconds 60]

(a) drain: --messages seed-000 vehicle messages (nested raw_data, acks=all) already in the
    topic with the writers stopped; then the writers start, and the time from the first
    committed row to the last gives rows/s. Beside it, in the same run, a direct COPY of the
    same rows into the same table on the primary (psql over its Unix socket, what the
    writers' COPY cannot beat) gives the limit. Once with every writer, once with one.
(b) steady: --rate messages a second for --seconds with every writer running; the writers'
    latency histogram (Kafka timestamp -> committed row) gives P50, P95 and P99.

Messages go to the brokers from a broker host (bench/telemetry_feed.py), so the traffic stays
on the inventory's own network. Every row the benchmark writes carries its own plate prefix
and is deleted at the end; the writers run again when it ends, however it ends. Figures are
printed, never judged: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clusters import HostShell
from roles import kafka_clients
from roles.ingest import config
from roles.metrics import address
from roles.pgclient import psql

ROOT = Path(__file__).resolve().parents[1]
FEED = Path(__file__).with_name("telemetry_feed.py")
WORK = "/srv/timestack-bench"  # not /tmp: trixie's systemd mounts a tmpfs there
TABLE = "telemetry.vehicle_telemetry"
COPY_FILE = "/var/lib/postgresql/timestack-bench-ingest.copy"
CLOCK_TICKS = 100  # USER_HZ of Linux on x86-64 and arm64 (/proc/<pid>/stat's unit)
TIMING = re.compile(r"^Time: ([0-9.]+) ms", re.MULTILINE)


@dataclass
class Host:
    name: str
    spec: Any
    shell: HostShell


@dataclass
class Stack:
    writers: list[Host]
    brokers: list[Host]
    primary: Host

    @property
    def broker(self) -> Host:
        return self.brokers[0]

    @property
    def bootstrap(self) -> str:
        """Where the feed produces. On a secured cluster: every broker's internal listener,
        as the broker host it runs on (its certificate; no application password needed on
        the machine running the benchmark); else the writers' bootstrap servers."""
        if kafka_clients.secured(self.broker.spec.kafka):
            return ",".join(kafka_clients.admin_bootstrap(b.spec) for b in self.brokers)
        brokers = json.loads(self.writers[0].shell.run(f"cat {config.CONFIG}"))["kafka"]
        return str(brokers["bootstrap.servers"])

    @property
    def feed_client(self) -> str:
        """The feed's --client-config: the broker host's own (roles/kafka_clients.py)."""
        if kafka_clients.secured(self.broker.spec.kafka):
            return f" --client-config {kafka_clients.ADMIN_CLIENT}"
        return ""


def stack(inventory: str) -> Stack:
    from tests.verify.targets import load_targets  # pyinfra_cli monkey-patches on import

    hosts = [
        Host(t.short_name, t.spec, HostShell(t.hostspec, t.testinfra_host()))
        for t in load_targets(inventory)
    ]
    writers = [h for h in hosts if "ingest" in h.spec.groups]
    brokers = [h for h in hosts if "kafka" in h.spec.groups]
    primaries = [
        h for h in hosts if "timescaledb" in h.spec.groups and h.spec.postgres.upstream is None
    ]
    if not writers or not brokers or not primaries:
        raise SystemExit(f"{inventory}: needs hosts in groups ingest, kafka and a primary")
    return Stack(writers, brokers, primaries[0])


def sql(host: Host, query: str) -> str:
    pg = host.spec.postgres
    return host.shell.run(psql(pg.version, pg.cluster, query, host.spec.schema_.database))


def metric(host: Host, name: str) -> dict[str, float]:
    """`name`'s samples on one writer's endpoint (label text -> value); {} while it starts."""
    url = f"http://{address(host.spec)}:{host.spec.ingest.metrics_port}/metrics"
    try:
        text = host.shell.run(f"curl -fsS --max-time 5 {url}")
    except Exception:
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            samples[labels] = float(value)
    return samples


def rows_written(writers: Sequence[Host]) -> float:
    label = f'{{table="{TABLE}"}}'
    return sum(metric(h, "timestack_ingest_rows_total").get(label, 0.0) for h in writers)


def produce(stack: Stack, prefix: str, count: int, rate: float = 0) -> dict[str, Any]:
    shell = stack.broker.shell
    result = shell.run(
        f"python3 {WORK}/feed.py produce --bootstrap {stack.bootstrap}{stack.feed_client} "
        f"--prefix {prefix} "
        f"--count {count} --rate {rate} --max-seconds 900"
    )
    lines = result.strip().splitlines()
    if not lines:
        raise SystemExit(f"{stack.broker.name}: the feed printed nothing")
    produced: dict[str, Any] = json.loads(lines[-1])
    if produced["acknowledged"] != count:
        raise SystemExit(f"the brokers acknowledged {produced['acknowledged']} of {count}")
    return produced


def systemctl(hosts: Sequence[Host], verb: str) -> None:
    for host in hosts:
        host.shell.run(f"systemctl {verb} {config.UNIT}")


@contextmanager
def writers_restored(stack: Stack) -> Iterator[None]:
    try:
        yield
    finally:
        systemctl(stack.writers, "start")


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds the processes of each component's system user have used so far, summed
    per kind, from /proc (10 ms ticks; a process that exited meanwhile is not counted)."""
    users = [("writers", h, config.USER) for h in stack.writers]
    users += [("brokers", h, "kafka") for h in stack.brokers]
    users.append(("postgres", stack.primary, "postgres"))
    used: dict[str, float] = {}
    for kind, host, user in users:
        ticks = host.shell.run(
            f"for p in $(pgrep -u {user}); do cut -d')' -f2 /proc/$p/stat 2>/dev/null; done "
            "| awk '{t += $12 + $13} END {print t + 0}'"  # utime + stime after the name
        )
        used[kind] = used.get(kind, 0.0) + float(ticks) / CLOCK_TICKS
    return used


def drain(stack: Stack, running: Sequence[Host], count: int) -> dict[str, float]:
    """Messages waiting in the topic, then `running` writers started: rows/s from the first
    committed row to the last, and the time from the start until all are rows."""
    prefix = f"BD{uuid.uuid4().hex[:6]}"
    systemctl(stack.writers, "stop")
    produce(stack, prefix, count)
    cpu_before = cpu_seconds(stack)
    started = time.monotonic()
    systemctl(running, "start")
    first: tuple[float, float] | None = None
    written = 0.0
    while written < count and time.monotonic() - started < 900:
        written = rows_written(running)
        if written and first is None:
            first = (time.monotonic(), written)
        time.sleep(0.25)
    ended = time.monotonic()
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds(stack).items()}
    systemctl(stack.writers, "start")
    if first is None or written < count:
        raise SystemExit(f"drain: {written:.0f} of {count} rows after 15 minutes")
    copy = direct_copy(stack.primary, prefix, count)
    return {
        "writers": len(running),
        "rows": count,
        "rows_per_s": (count - first[1]) / max(ended - first[0], 1e-3),
        "seconds_from_start": ended - started,
        "copy_rows_per_s": count / copy,
        "copy_seconds": copy,
        **{f"cpu_{kind}_s": seconds for kind, seconds in cpu.items()},
    }


def direct_copy(primary: Host, prefix: str, count: int) -> float:
    """Seconds psql takes to COPY the drained rows back into the table (psql's own timing)."""
    columns = ", ".join(
        sql(
            primary,
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
            f"WHERE attrelid = '{TABLE}'::regclass AND attnum > 0 AND NOT attisdropped "
            "AND attgenerated = ''",
        ).split(", ")
    )
    mine = f"license_plate LIKE '{prefix}-%'"
    sql(primary, f"COPY (SELECT {columns} FROM {TABLE} WHERE {mine}) TO '{COPY_FILE}'")
    sql(primary, f"DELETE FROM {TABLE} WHERE {mine}")
    pg = primary.spec.postgres
    script = f"\\timing on\nCOPY {TABLE} ({columns}) FROM '{COPY_FILE}';\n"
    encoded = base64.b64encode(script.encode()).decode()
    out = primary.shell.run(
        f"printf %s {encoded} | base64 -d | "
        + psql(pg.version, pg.cluster, None, primary.spec.schema_.database)
    )
    copied = sql(primary, f"SELECT count(*) FROM {TABLE} WHERE {mine}")
    sql(primary, f"DELETE FROM {TABLE} WHERE {mine}")
    primary.shell.run(f"rm -f {COPY_FILE}")
    if int(copied) != count:
        raise SystemExit(f"direct COPY: {copied} rows, expected {count}")
    found = TIMING.search(out)
    if not found:
        raise SystemExit(f"direct COPY: no timing in psql's output: {out[-300:]}")
    return float(found[1]) / 1000


def histogram(writers: Sequence[Host]) -> dict[float, float]:
    """Upper bound -> cumulative count, summed over the writers, for TABLE."""
    summed: dict[float, float] = {}
    for host in writers:
        for labels, value in metric(host, "timestack_ingest_latency_seconds_bucket").items():
            if f'table="{TABLE}"' in labels:
                bound = labels.split(',le="')[1].split('"')[0]
                key = float("inf") if bound == "+Inf" else float(bound)
                summed[key] = summed.get(key, 0.0) + value
    return summed


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """histogram_quantile over the difference of two cumulative histograms."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return bounds[-2]


def steady(stack: Stack, rate: float, seconds: float) -> dict[str, float]:
    prefix = f"BS{uuid.uuid4().hex[:6]}"
    count = int(rate * seconds)
    before, rows_before = histogram(stack.writers), rows_written(stack.writers)
    produced = produce(stack, prefix, count, rate)
    deadline = time.monotonic() + 300
    while rows_written(stack.writers) - rows_before < count and time.monotonic() < deadline:
        time.sleep(0.5)
    after = histogram(stack.writers)
    sql(stack.primary, f"DELETE FROM {TABLE} WHERE license_plate LIKE '{prefix}-%'")
    return {
        "rate": rate,
        "achieved_rate": count / produced["seconds"],
        **{f"ack_{q}_s": v for q, v in produced["ack_seconds"].items()},
        "messages": count,
        **{f"p{int(q * 100)}_s": quantile(q, before, after) for q in (0.5, 0.95, 0.99)},
    }


def report(drains: Sequence[dict[str, float]], latency: dict[str, float]) -> str:
    lines = [
        "ingest benchmark (figures of one run on shared machines: compare side by side)",
        "",
        "| drain | rows | writer rows/s | direct COPY rows/s | writer / COPY | all rows after "
        "| CPU s: writers / brokers / PostgreSQL |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in drains:
        lines.append(
            f"| {d['writers']:.0f} writer(s) | {d['rows']:.0f} | {d['rows_per_s']:,.0f} | "
            f"{d['copy_rows_per_s']:,.0f} | {d['rows_per_s'] / d['copy_rows_per_s']:.0%} | "
            f"{d['seconds_from_start']:.1f} s | {d.get('cpu_writers_s', 0):.1f} / "
            f"{d.get('cpu_brokers_s', 0):.1f} / {d.get('cpu_postgres_s', 0):.1f} |"
        )
    lines += [
        "",
        "| steady | messages/s asked | achieved | produce->row P50 | P95 | P99 "
        "| of which produce->acked P50 / P95 / P99 |",
        "|---|---|---|---|---|---|---|",
        f"| all writers | {latency['rate']:,.0f} | "
        f"{latency['achieved_rate']:,.0f} | {latency['p50_s']:.3f} s | {latency['p95_s']:.3f} s | "
        f"{latency['p99_s']:.3f} s | {latency['ack_p50_s']:.3f} / {latency['ack_p95_s']:.3f} / "
        f"{latency['ack_p99_s']:.3f} s |",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--inventory", default=str(ROOT / "inventory/lab.py"))
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    found = stack(args.inventory)
    found.broker.shell.run(f"mkdir -p {WORK}")
    found.broker.shell.run(f"tee {WORK}/feed.py >/dev/null", FEED.read_text())
    with writers_restored(found):
        drains = []
        for running in (found.writers, found.writers[:1]):
            drains.append(drain(found, running, args.messages))
            print(f"drain: {json.dumps(drains[-1])}", flush=True)
        latency = steady(found, args.rate, args.seconds)
        print(f"steady: {json.dumps(latency)}", flush=True)
    print(report(drains, latency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
