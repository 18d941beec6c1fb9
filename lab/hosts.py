"""Lab hosts: one network, three systemd containers, ports published on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

import docker
from docker.errors import NotFound
from docker.models.containers import Container
from docker.types import IPAMConfig, IPAMPool

from lab import HOSTS, LABEL, NETWORK, SUBNET, LabHost, access
from lab.engine import LabError

# Exactly what systemd as PID 1 needs on these machines (--privileged fails here).
SYSTEMD_RUN_ARGS: dict[str, object] = {
    "cap_add": ["SYS_ADMIN"],
    "tmpfs": {"/run": "", "/run/lock": ""},
    "volumes": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
}


def ensure_network(engine: docker.DockerClient) -> None:
    for network in engine.networks.list(names=[NETWORK]):
        subnets = [c.get("Subnet") for c in network.attrs["IPAM"].get("Config") or []]
        if SUBNET in subnets:
            return
        print(f"lab: network {NETWORK} has subnets {subnets}, not {SUBNET}; recreating it")
        for host in HOSTS:
            container = _get(engine, host.name)
            if container is not None:
                container.remove(force=True)
        network.remove()
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=SUBNET)])
    engine.networks.create(NETWORK, driver="bridge", ipam=ipam, labels={LABEL: "1"})


def published_ports(attrs: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port, from a container's inspect data (its PortBindings)."""
    bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    return {
        int(inner.split("/", 1)[0]): int(outer[0]["HostPort"])
        for inner, outer in bindings.items()
        if outer
    }


def ensure_host(engine: docker.DockerClient, host: LabHost, image: str) -> Container:
    """A running container for `host` from `image`; a stale or foreign-image one is replaced."""
    container = _get(engine, host.name)
    if container is not None and container.image.tags and image not in container.image.tags:
        print(f"lab: {host.name} runs an older image; recreating it")
        container.remove(force=True)
        container = None
    if container is not None and published_ports(container.attrs) != host.published:
        print(f"lab: {host.name} publishes other ports than {host.published}; recreating it")
        container.remove(force=True)
        container = None
    if container is None:
        print(f"lab: creating {host.name}")
        container = engine.containers.run(
            image,
            name=host.name,
            hostname=host.name,
            detach=True,
            network=NETWORK,
            labels={LABEL: "1"},
            ports={f"{inner}/tcp": ("127.0.0.1", outer) for inner, outer in host.published.items()},
            mem_limit=host.memory_limit,
            **SYSTEMD_RUN_ARGS,
        )
    elif container.status != "running":
        print(f"lab: starting stopped {host.name}")
        container.start()
    return container


def recreate(engine: docker.DockerClient, host: LabHost, image: str) -> Container:
    """A new container for `host` from `image`, systemd running: a fresh, bare host again
    (whatever the old container held is gone)."""
    container = _get(engine, host.name)
    if container is not None:
        print(f"lab: removing {host.name}")
        container.remove(force=True)
    container = ensure_host(engine, host, image)
    make_reachable(container, host)
    return container


def make_reachable(container: Container, host: LabHost) -> None:
    """systemd running, the deploy key authorized, the host key pinned, sshd answering."""
    wait_for_systemd(container)
    access.authorize(container)
    access.pin_host_key(container, host)
    access.wait_for_sshd(host)


def wait_for_systemd(container: Container, timeout: float = 90.0) -> None:
    """Block until systemd inside reports running (or degraded, which we then explain)."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        _code, output = container.exec_run(["systemctl", "is-system-running"])
        state = output.decode().strip()
        if state == "running":
            return
        if state == "degraded":
            _, failed = container.exec_run(["systemctl", "--failed", "--no-legend"])
            raise LabError(f"{container.name}: systemd is degraded:\n{failed.decode()}")
        time.sleep(0.5)
    raise LabError(f"{container.name}: systemd not running after {timeout:.0f}s (state {state!r})")


def remove_all(engine: docker.DockerClient) -> None:
    for host in HOSTS:
        container = _get(engine, host.name)
        if container is not None:
            print(f"lab: removing {host.name}")
            container.remove(force=True)
    for network in engine.networks.list(names=[NETWORK]):
        network.remove()


def status_lines(engine: docker.DockerClient) -> list[str]:
    lines = []
    for host in HOSTS:
        container = _get(engine, host.name)
        state = container.status if container is not None else "absent"
        ports = ", ".join(f"127.0.0.1:{outer}->{inner}" for inner, outer in host.published.items())
        lines.append(f"{host.name:<11} {state:<9} groups={','.join(host.groups)} {ports}".rstrip())
    return lines


def _get(engine: docker.DockerClient, name: str) -> Container | None:
    try:
        return engine.containers.get(name)
    except NotFound:
        return None
