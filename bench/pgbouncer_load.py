"""Open N concurrent client connections through pgBouncer, run a short select-only workload
on all of them at once, and print connections attempted/succeeded, errors, TPS and latency.

    python -m bench.pgbouncer_load                       # the lab: 1000 clients, 10 s
    python -m bench.pgbouncer_load --host db1 --port 6432 --user telemetry_app \\
        --password-env TIMESTACK_PG_APP_PASSWORD --clients 1000 --seconds 30

Every loop is bounded by --seconds; the load goes only to the host given. The password is
read from the environment variable --password-env names, as the roles read a role's
password_env (the lab's values are in lab/.state/secrets.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field

import psycopg


@dataclass
class Run:
    deadline: float = 0.0  # set when every client is connected
    connected: int = 0
    connect_errors: list[str] = field(default_factory=list)
    query_errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    load_seconds: float = 0.0


def _last_line(error: Exception) -> str:
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


async def client(dsn: str, password: str, run: Run, start: asyncio.Event) -> None:
    try:
        connection = await psycopg.AsyncConnection.connect(dsn, password=password, autocommit=True)
    except (psycopg.Error, OSError) as error:
        run.connect_errors.append(_last_line(error))
        return
    run.connected += 1
    async with connection:
        await start.wait()  # every client holds its connection before the load begins
        while time.monotonic() < run.deadline:
            began = time.perf_counter()
            try:
                await connection.execute("SELECT 1")
            except psycopg.Error as error:
                run.query_errors.append(_last_line(error))
                return
            run.latencies_ms.append((time.perf_counter() - began) * 1000)


async def load(args: argparse.Namespace, password: str) -> Run:
    dsn = (
        f"host={args.host} port={args.port} dbname={args.dbname} user={args.user} "
        f"connect_timeout={args.connect_timeout}"
    )
    run, start = Run(), asyncio.Event()
    tasks = [asyncio.create_task(client(dsn, password, run, start)) for _ in range(args.clients)]
    connect_limit = time.monotonic() + args.connect_timeout + 30
    while (
        run.connected + len(run.connect_errors) < args.clients and time.monotonic() < connect_limit
    ):
        await asyncio.sleep(0.05)
    print(f"connected {run.connected}/{args.clients}; running {args.seconds:g} s of SELECT 1")
    began = time.monotonic()
    run.deadline = began + args.seconds
    start.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.seconds + 60)
    run.load_seconds = time.monotonic() - began
    run.latencies_ms.sort()
    return run


def report(args: argparse.Namespace, run: Run) -> str:
    latencies = run.latencies_ms
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    median = statistics.median(latencies) if latencies else float("nan")
    errors = len(run.connect_errors) + len(run.query_errors)
    lines = [
        f"target                 {args.host}:{args.port}/{args.dbname} as {args.user}",
        f"connections attempted  {args.clients}",
        f"connections succeeded  {run.connected}",
        f"errors                 {errors} (connect {len(run.connect_errors)}, "
        f"query {len(run.query_errors)})",
        f"transactions           {len(latencies)} in {run.load_seconds:.1f} s",
        f"TPS                    {len(latencies) / run.load_seconds:.0f}"
        if run.load_seconds
        else "TPS                    -",
        f"latency median / p95   {median:.2f} ms / {p95:.2f} ms",
    ]
    for kind, messages in (("connect", run.connect_errors), ("query", run.query_errors)):
        for message in sorted(set(messages))[:5]:
            lines.append(f"  {kind} error x{messages.count(message)}: {message}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pgbouncer_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=16432, help="lab: pgBouncer's published port")
    parser.add_argument("--dbname", default="telemetry")
    parser.add_argument("--user", default="telemetry_app")
    parser.add_argument(
        "--password-env",
        default="TIMESTACK_PG_APP_PASSWORD",
        help="environment variable with the password (the lab's name by default)",
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connect-timeout", type=int, default=30)
    args = parser.parse_args(argv)
    password = os.environ.get(args.password_env)
    if not password:
        parser.error(
            f"set {args.password_env} to the password of {args.user} "
            "(the lab's passwords are in lab/.state/secrets.json)"
        )
    # One socket per client, plus Python's own files.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.clients + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    run = asyncio.run(load(args, password))
    print(report(args, run))
    return 0 if run.connected == args.clients and not run.query_errors else 1


if __name__ == "__main__":
    sys.exit(main())
