"""python -m lab up|down|status"""

from __future__ import annotations

import argparse
import sys

from docker.errors import DockerException

from lab import HOSTS
from lab.engine import LabError, client, ensure_host_packages
from lab.hosts import ensure_host, ensure_network, remove_all, status_lines, wait_for_systemd
from lab.image import ensure_host_image
from lab.kafka_standin import ensure_standin_archive


def up() -> None:
    ensure_host_packages()
    ensure_standin_archive()  # before any container: pip needs PyPI, the lab does not
    engine = client()
    image = ensure_host_image(engine)
    ensure_network(engine)
    containers = [ensure_host(engine, host, image) for host in HOSTS]
    for container in containers:
        wait_for_systemd(container)
    print("\n".join(status_lines(engine)))


def down() -> None:
    remove_all(client(start=False))


def status() -> None:
    print("\n".join(status_lines(client(start=False))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        {"up": up, "down": down, "status": status}[args.command]()
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1
    except DockerException as error:
        print(f"lab: error: the Docker engine refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
