"""What a deploy that changes nothing costs, with -y and with --dry, against just connecting:

    python -m bench.noop [--inventory inventory/lab.py] [--rounds 3]

Runs, alternating in one process so all see the same machine load, `pyinfra -y INVENTORY
fact server.Hostname` (connect to every host, read one fact), `pyinfra -y INVENTORY
deploy.py` (the whole stack, on hosts already deployed: operations read and run one after
the other) and `pyinfra --dry INVENTORY deploy.py` (each operation reads as it is called;
README's production command prompts after the same preparation). Then prints each one's
wall times and each deploy's median over the connect run's. A deploy must change nothing
(--dry: no operation would change a host unless its `_if` says so): a run that did is
reported and not counted. Exit 1 when a run fails or changes something.
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
CONNECT = "connect + one fact"
TARGET = 5.0  # a no-op deploy at most this many times the connect run, in either mode


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return time.monotonic() - started, result


def commands(inventory: str) -> dict[str, list[str]]:
    deploy = ["--json", inventory, "deploy.py"]
    return {
        CONNECT: [str(PYINFRA), "-y", inventory, "fact", "server.Hostname"],
        "no-op deploy -y": [str(PYINFRA), "-y", *deploy],
        "no-op deploy --dry": [str(PYINFRA), "--dry", *deploy],
    }


def changed_operations(payload: str) -> list[str]:
    """Names of the operations pyinfra's --json output says changed some host (a run) or
    would change one whatever an earlier operation does (a --dry run's plan)."""
    output = json.loads(payload)
    if output["results"] is not None:
        return [op["name"] for op in output["results"]["operations"] if op["success"]]
    return [op["name"] for op in output["plan"] if op["hosts_with_change"]]


def summary(times: dict[str, list[float]]) -> list[str]:
    """Each run's wall times, then each deploy's median over the connect run's median."""
    lines = [
        f"{label:<20} min {min(values):6.2f} s  median {statistics.median(values):6.2f} s  "
        f"max {max(values):6.2f} s"
        for label, values in times.items()
    ]
    connect = statistics.median(times[CONNECT])
    for label, values in times.items():
        if label != CONNECT:
            ratio = statistics.median(values) / connect
            lines.append(f"{label} / connect: {ratio:.1f}x (target: at most {TARGET:g}x)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.noop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--inventory", default="inventory/lab.py")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    runs = commands(args.inventory)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for round_number in range(1, args.rounds + 1):
        for label, command in runs.items():
            seconds, result = timed(command)
            if result.returncode != 0:
                print(f"round {round_number}: {label} failed:\n{result.stderr[-2000:]}")
                return 1
            changed = [] if label == CONNECT else changed_operations(result.stdout)
            if changed:
                print(f"round {round_number}: {label} changed {changed}: not a no-op")
                return 1
            times[label].append(seconds)
        print(
            f"round {round_number}: "
            + ", ".join(f"{label} {values[-1]:.2f} s" for label, values in times.items())
        )
    print("\n".join(summary(times)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
