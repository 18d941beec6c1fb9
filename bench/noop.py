"""What a deploy that changes nothing costs, against just connecting:

    python -m bench.noop [--inventory inventory/lab.py] [--rounds 3]

Runs, alternating in one process so both see the same machine load, `pyinfra -y INVENTORY
fact server.Hostname` (connect to every host, read one fact) and `pyinfra -y INVENTORY
deploy.py` (the whole stack, on hosts already deployed), then prints each one's wall
times and the ratio of the medians. The deploy must change nothing: a run that changed
something is reported and not counted. Exit 1 when a run fails or changes something.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYINFRA = Path(sys.executable).with_name("pyinfra")


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return time.monotonic() - started, result


def changed_operations(payload: str) -> list[str]:
    """Names of the operations pyinfra's --json result says changed some host."""
    results = json.loads(payload)["results"]
    return [op["name"] for op in results["operations"] if op["success"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.noop", description=__doc__)
    parser.add_argument("--inventory", default="inventory/lab.py")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    connect = [str(PYINFRA), "-y", args.inventory, "fact", "server.Hostname"]
    deploy = [str(PYINFRA), "-y", "--json", args.inventory, "deploy.py"]
    times: dict[str, list[float]] = {"connect + one fact": [], "no-op deploy": []}
    for round_number in range(1, args.rounds + 1):
        seconds, result = timed(connect)
        if result.returncode != 0:
            print(f"round {round_number}: the fact run failed:\n{result.stderr[-2000:]}")
            return 1
        times["connect + one fact"].append(seconds)
        seconds, result = timed(deploy)
        if result.returncode != 0:
            print(f"round {round_number}: the deploy failed:\n{result.stderr[-2000:]}")
            return 1
        changed = changed_operations(result.stdout)
        if changed:
            print(f"round {round_number}: the deploy changed {changed}: not a no-op, not counted")
            return 1
        times["no-op deploy"].append(seconds)
        print(
            f"round {round_number}: fact {times['connect + one fact'][-1]:.2f} s, "
            f"deploy {seconds:.2f} s"
        )
    for label, values in times.items():
        print(
            f"{label:<20} min {min(values):6.2f} s  median {statistics.median(values):6.2f} s  "
            f"max {max(values):6.2f} s"
        )
    ratio = statistics.median(times["no-op deploy"]) / statistics.median(
        times["connect + one fact"]
    )
    print(f"no-op deploy / connect: {ratio:.1f}x (target: at most 7x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
