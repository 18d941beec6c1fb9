"""python -m lab up|down|status|recreate [HOST...]"""

from __future__ import annotations

import argparse
import sys

import docker
from docker.errors import DockerException

from lab import HOSTS
from lab.access import ensure_key_pair
from lab.engine import LabError, client, ensure_host_packages
from lab.hosts import (
    ensure_host,
    ensure_network,
    make_reachable,
    recreate,
    remove_all,
    status_lines,
)
from lab.image import ensure_host_image
from lab.kafka_release import ensure_jmx_agent, ensure_kafka_archive


def _prepared() -> tuple[docker.DockerClient, str]:
    """The engine and the host image, with the network and the Kafka release in place."""
    ensure_host_packages()
    ensure_key_pair()
    ensure_kafka_archive()  # before any container: Maven needs Maven Central, the lab does not
    ensure_jmx_agent()
    engine = client()
    image = ensure_host_image(engine)
    ensure_network(engine)
    return engine, image


def up() -> None:
    engine, image = _prepared()
    containers = [ensure_host(engine, host, image) for host in HOSTS]
    for container, host in zip(containers, HOSTS, strict=True):
        make_reachable(container, host)
    print("\n".join(status_lines(engine)))


def recreate_hosts(names: list[str]) -> None:
    """Replace lab hosts (all, or those named) with new containers: bare hosts again."""
    unknown = sorted(set(names) - {host.name for host in HOSTS})
    if unknown:
        raise LabError(
            f"no lab host {', '.join(unknown)} (hosts: {', '.join(h.name for h in HOSTS)})"
        )
    engine, image = _prepared()
    for host in HOSTS:
        if not names or host.name in names:
            recreate(engine, host, image)
    print("\n".join(status_lines(engine)))


def down() -> None:
    remove_all(client(start=False))


def status() -> None:
    print("\n".join(status_lines(client(start=False))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "recreate"])
    parser.add_argument("hosts", nargs="*", help="recreate: only these lab hosts")
    args = parser.parse_args(argv)
    if args.hosts and args.command != "recreate":
        parser.error(f"{args.command} takes no host names")
    try:
        if args.command == "recreate":
            recreate_hosts(args.hosts)
        else:
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
