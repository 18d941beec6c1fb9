"""What encryption costs ingest, Kafka and PostgreSQL side by side in one run:

    python -m bench.tls_cost [--inventory inventory/lab.py] [--rounds 5] [--messages 100000]

Kafka (bench/tls_kafka.py): on the first broker host, a scratch single-node broker of the
installed release, bound to 127.0.0.1, with a PLAINTEXT and a SASL_SSL (SCRAM-SHA-512, the
host's certificate) listener; --messages vehicle telemetry messages (bench/telemetry_feed.py:
acks=all, idempotent, snappy) produced from the same host per round. One unrecorded round
per listener first (the broker's JIT warms up, the credential is proven).
PostgreSQL (bench/tls_postgres.py): on the primary, the stock cluster of `python -m bench`
with TLS turned on; --messages vehicle rows COPYed by psql over 127.0.0.1 per round, with
sslmode=disable and with sslmode=verify-full.

Rounds alternate (plaintext, TLS / TLS, plaintext ...) so a machine growing busier weighs on
both alike. Printed: messages/s, payload MB/s and rows/s per round, medians, and what TLS
costs (the share of plaintext throughput lost, by median). Written:
results/<timestamp>-tls-cost/{report.txt,results.json}. The deployed broker and cluster are
not touched; everything the run makes is removed at the end, however it ends. Figures are
printed, never judged: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from bench import datagen, ingest, report
from bench.clusters import DefaultsCluster
from bench.runner import Plan, alternate
from bench.stats import Metric, Summary
from bench.target import from_inventory
from bench.tls_kafka import MODES, scratch_broker
from bench.tls_kafka import Round as ProduceRound
from bench.tls_postgres import Round as CopyRound
from bench.tls_postgres import scratch_postgres
from roles import kafka_clients, pki

R = TypeVar("R")

ROOT = Path(__file__).resolve().parents[1]
MAX_ROUNDS, MAX_MESSAGES = 20, 1_000_000  # bounded: about 2 x 20 x (1M / 30k rows/s) at most
WARM_UP = 10_000  # messages of each listener's unrecorded first round
LABELS = {"plaintext": "plaintext", "tls": "TLS"}
KAFKA_MESSAGES = Metric("kafka_messages", "Kafka produce (acks=all)", "messages/s", True)
KAFKA_PAYLOAD = Metric("kafka_payload", "Kafka produce, payload", "MB/s", True)
POSTGRES_COPY = Metric("postgres_copy", "PostgreSQL COPY over TCP", "rows/s", True)
METRICS = (KAFKA_MESSAGES, KAFKA_PAYLOAD, POSTGRES_COPY)

Figures = dict[str, dict[str, Summary]]  # mode -> metric key -> per-round samples


def summarise(produced: Sequence[ProduceRound], copied: Sequence[CopyRound]) -> Figures:
    """Each mode's rounds, in the order they ran, as a Summary per metric."""
    figures: Figures = {}
    for mode in MODES:
        mine = [r for r in produced if r.mode == mode]
        rows = [r for r in copied if r.mode == mode]
        figures[mode] = {
            KAFKA_MESSAGES.key: Summary(tuple(r.messages_per_s for r in mine)),
            KAFKA_PAYLOAD.key: Summary(tuple(r.megabytes_per_s for r in mine)),
            POSTGRES_COPY.key: Summary(tuple(r.rows_per_s for r in rows)),
        }
    return figures


def tls_cost(figures: Figures, metric: Metric) -> float:
    """The share of plaintext throughput TLS loses, by median (0.1: 10 % fewer per second;
    negative: TLS measured faster, i.e. within noise); NaN when a mode has no figure."""
    plain, tls = (figures[mode][metric.key].median for mode in MODES)
    if math.isnan(plain) or math.isnan(tls) or plain <= 0:
        return math.nan
    return 1 - tls / plain


def _figure(metric: Metric, value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.2f}" if metric.unit == "MB/s" else f"{value:,.0f}"


def table(figures: Figures) -> str:
    medians = [["metric", "unit", *(LABELS[m] for m in MODES), "TLS costs"]]
    for metric in METRICS:
        cost = tls_cost(figures, metric)
        medians.append(
            [
                metric.label,
                metric.unit,
                *(_figure(metric, figures[mode][metric.key].median) for mode in MODES),
                "-" if math.isnan(cost) else f"{cost:+.1%} of plaintext throughput",
            ]
        )
    rounds = max(len(s.samples) for by_key in figures.values() for s in by_key.values())
    each = [["per round", "", *(str(n + 1) for n in range(rounds))]]
    for metric in METRICS:
        for mode in MODES:
            samples = [_figure(metric, v) for v in figures[mode][metric.key].samples]
            each.append([metric.label, LABELS[mode], *samples, *[""] * (rounds - len(samples))])
    return "\n".join(
        [
            *report.aligned(medians),
            "medians; TLS costs: the share of plaintext throughput lost (negative: within noise)",
            "",
            *report.aligned(each),
            "rounds alternate: plaintext first in rounds 1, 3, ...; TLS first in 2, 4, ...",
        ]
    )


def document(figures: Figures, meta: Mapping[str, Any]) -> dict[str, Any]:
    """report.document's shape (ratio: plaintext / TLS), with each metric's TLS cost."""
    doc = report.document(figures, meta, METRICS)
    for metric in METRICS:
        cost = tls_cost(figures, metric)
        doc["metrics"][metric.key]["tls_cost"] = None if math.isnan(cost) else cost
    return doc


def vehicle_copy(count: int, seed: int = 1) -> bytes:
    """`count` generated vehicle rows (50 vehicles, 1 Hz) as COPY text."""
    sizes = datagen.Sizes(vehicles=50, seconds=-(-count // 50), machines=1)
    plates = datagen.plates(sizes.vehicles, seed)
    start = Plan(sizes, seed).first_time()
    rows = datagen.vehicle_rows(plates, sizes.seconds, start, seed)
    return datagen.copy_text(list(islice(rows, count)))


def produce_rounds(broker: ingest.Host, rounds: int, count: int) -> list[ProduceRound]:
    print(f"Kafka: scratch broker on {broker.name} (127.0.0.1), {count:,} messages a round")
    with scratch_broker(broker.spec, broker.shell, rounds) as scratch:
        for mode in MODES:
            scratch.produce(mode, min(count, WARM_UP))
        produced = _alternating(
            rounds, lambda mode: scratch.produce(mode, count), "messages/s", "messages_per_s"
        )
    return produced


def copy_rounds(
    primary: ingest.Host, cluster: DefaultsCluster, rounds: int, count: int
) -> list[CopyRound]:
    print(f"PostgreSQL: stock cluster on {primary.name} (127.0.0.1), {count:,} rows a round")
    server_name = pki.identity(primary.spec).common_name
    with scratch_postgres(cluster, primary.shell, server_name, vehicle_copy(count)) as scratch:
        copied = _alternating(
            rounds, lambda mode: scratch.copy(mode, count), "rows/s", "rows_per_s"
        )
    return copied


def _alternating(rounds: int, measure: Callable[[str], R], unit: str, rate: str) -> list[R]:
    """`rounds` of one measurement per mode, the first mode alternating; each printed."""
    measured: list[R] = []
    for rep in range(rounds):
        for mode in alternate(MODES, rep):
            measured.append(measure(mode))
            value = getattr(measured[-1], rate)
            print(f"  round {rep + 1} {LABELS[mode]}: {value:,.0f} {unit}", flush=True)
    return measured


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tls_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--inventory", default=str(ROOT / "inventory/lab.py"))
    parser.add_argument("--rounds", type=int, default=5, help="per mode, alternating")
    parser.add_argument("--messages", type=int, default=100_000, help="and rows, per round")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds: got {args.rounds}; expected 1 to {MAX_ROUNDS}")
    if not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--messages: got {args.messages}; expected 1 to {MAX_MESSAGES:,}")
    found = ingest.stack(args.inventory)
    broker, primary = found.broker, found.primary
    if not kafka_clients.secured(broker.spec.kafka):
        raise SystemExit(
            f"{broker.name}: kafka.security: got plaintext; expected sasl_ssl: the TLS "
            "listener serves the broker's certificate from Timestack's CA, which a plaintext "
            "cluster does not have"
        )
    cluster = from_inventory(Path(args.inventory), primary.name).defaults
    assert cluster is not None  # from_inventory always sets it
    produced = produce_rounds(broker, args.rounds, args.messages)
    copied = copy_rounds(primary, cluster, args.rounds, args.messages)
    figures = summarise(produced, copied)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    meta = {
        "created": stamp,
        "broker_host": broker.name,
        "database_host": primary.name,
        "rounds": args.rounds,
        "messages": args.messages,
        "message_bytes": produced[0].payload_bytes / produced[0].messages,
        "postgres_tls": next((r.tls for r in copied if r.tls), ""),
    }
    out: Path = args.results / f"{stamp}-tls-cost"
    out.mkdir(parents=True, exist_ok=True)
    text = table(figures)
    (out / "report.txt").write_text(text + "\n")
    report.write_json(out / "results.json", document(figures, meta))
    print(text)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
