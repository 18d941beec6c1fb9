"""Ingest and query benchmark, Timestack-tuned vs PostgreSQL defaults, and post-deploy
validation.

    python -m bench                     # the lab's ts-db1: 50 vehicles x 60 min, compared
    python -m bench run --inventory inventory/prod.py --host db1 --vehicles 200 --days 1
    python -m bench validate            # 1M rows, thresholds from host data (bench.*)
    python -m bench validate --direct-dsn "host=db1 port=5432 dbname=telemetry user=o" \\
        --pgbouncer-dsn "host=db1 port=6432 dbname=telemetry user=o"   # PGPASSWORD

`run` makes a stock cluster (`pg_createcluster <v> bench_defaults --port 5499`, only
shared_preload_libraries=timescaledb) and a stock pgBouncer (6499) on the database host, runs
the same workload on both, alternating, and drops them at the end unless --keep. Results:
results/<timestamp>/{report.txt,results.json,results.png}.

Both modes write only into their own schema `timestack_bench` (tables LIKE the real ones),
dropped at the end: production tables are read for their definition, never written. The
login needs CREATE on the database (the database owner). Exit 1: a threshold was missed
(validate) or the run failed; never on a slow figure in `run`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.clusters import HostShell
from bench.datagen import Sizes
from bench.runner import Figures, Plan, generate, measure
from bench.spec import BenchSpec
from bench.target import Target, from_dsns, from_inventory
from bench.thresholds import evaluate

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", nargs="?", choices=("run", "validate"), default="run")
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory/lab.py")
    parser.add_argument("--host", default="ts-db1", help="inventory host (name without @docker/)")
    parser.add_argument("--direct-dsn", help="conninfo of PostgreSQL (instead of --inventory)")
    parser.add_argument("--pgbouncer-dsn", help="conninfo of pgBouncer (with --direct-dsn)")
    parser.add_argument("--vehicles", type=int, help="default: 50 (run), 100 (validate)")
    parser.add_argument(
        "--minutes", type=int, help="of 1 Hz data; default 60 (run), 180 (validate)"
    )
    parser.add_argument("--days", type=float, help="of 1 Hz data (instead of --minutes)")
    parser.add_argument("--machines", type=int, default=4, help="factory machines, 5 metrics each")
    parser.add_argument(
        "--reps", type=int, help="ingest repetitions; default 3 (run), 1 (validate)"
    )
    parser.add_argument("--query-reps", type=int, default=7, help="timed executions per query")
    parser.add_argument("--insert-rows", type=int, default=100_000, help="rows per INSERT run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep bench_defaults and the schema")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    return parser


def _plan(args: argparse.Namespace) -> Plan:
    validate = args.mode == "validate"
    vehicles = args.vehicles or (100 if validate else 50)
    if args.days is not None:
        seconds = int(args.days * 86_400)
    else:
        seconds = 60 * (args.minutes or (180 if validate else 60))
    sizes = Sizes(vehicles=vehicles, seconds=seconds, machines=args.machines)
    reps = args.reps or (1 if validate else 3)
    return Plan(sizes, args.seed, None, reps, args.query_reps, args.insert_rows)


def _target(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Target:
    if args.direct_dsn or args.pgbouncer_dsn:
        if not (args.direct_dsn and args.pgbouncer_dsn):
            parser.error("--direct-dsn and --pgbouncer-dsn go together")
        if args.mode == "run":
            parser.error(
                "explicit DSNs give no shell on the host for a defaults cluster: "
                "use validate, or --inventory"
            )
        return from_dsns(args.direct_dsn, args.pgbouncer_dsn)
    return from_inventory(args.inventory, args.host)


def _save(figures: Figures, args: argparse.Namespace, plan: Plan, target: Target) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.results / stamp
    out.mkdir(parents=True, exist_ok=True)
    text = report.table(figures)
    (out / "report.txt").write_text(text + "\n")
    sizes = plan.sizes
    meta = {
        "created": stamp,
        "mode": args.mode,
        "target": target.tuned.direct,
        "vehicles": sizes.vehicles,
        "seconds": sizes.seconds,
        "vehicle_rows": sizes.vehicle_rows,
        "metric_rows": sizes.metric_rows,
        "insert_rows": min(plan.insert_rows, sizes.vehicle_rows),
        "ingest_reps": plan.ingest_reps,
        "query_reps": plan.query_reps,
        "seed": plan.seed,
    }
    report.write_json(out / "results.json", report.document(figures, meta))
    title = f"{sizes.vehicle_rows:,} vehicle rows ({sizes.vehicles} vehicles x {sizes.seconds} s)"
    report.plot(figures, out / "results.png", title)
    print(text)
    print(f"results: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    target, plan = _target(args, parser), _plan(args)
    print(
        f"target {target.tuned.direct}; {plan.sizes.vehicle_rows:,} vehicle rows, "
        f"{plan.sizes.metric_rows:,} factory rows"
    )
    data = generate(plan)
    if args.mode == "validate":
        figures = measure([target.tuned], plan, data)
        _save(figures, args, plan, target)
        spec = target.thresholds or BenchSpec()
        outcomes = evaluate(figures["tuned"], spec)
        for outcome in outcomes:
            print(outcome.line())
        return 0 if all(outcome.passed for outcome in outcomes) else 1
    # from_inventory always sets these
    assert target.host and target.defaults and target.defaults_endpoint
    shell = HostShell(target.host.hostspec, target.host.testinfra_host())
    print(f"creating the stock cluster on {target.host.name} ...")
    target.defaults.create(shell)
    try:
        figures = measure([target.tuned, target.defaults_endpoint], plan, data, args.keep)
    finally:
        if not args.keep:
            target.defaults.drop(shell)
    _save(figures, args, plan, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
