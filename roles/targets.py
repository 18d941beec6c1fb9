"""Turn a pyinfra inventory into Testinfra targets, with each host's groups and spec.

The same inventory drives the deploy and the checks: `@docker/x` → `docker://x`,
`@local` → `local://`, SSH hosts → `ssh://user@host:port` with the inventory's SSH data.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra.api.state import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from roles.hostdata import validated_specs
from roles.spec import HostSpec, host_address


@dataclass(frozen=True)
class Target:
    name: str  # the inventory's name for the host
    groups: frozenset[str]
    hostspec: str  # what testinfra.get_host takes
    spec: HostSpec
    data: Mapping[str, Any]  # the inventory's data for the host (connector keys included)

    @property
    def address(self) -> str:
        return network_address(self.name, self.data)

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def hostspec_for(name: str, data: Mapping[str, Any]) -> str:
    """The Testinfra host spec that reaches the same machine pyinfra reaches for `name`."""
    if name.startswith("@docker/"):
        return f"docker://{data.get('docker_identifier') or name.removeprefix('@docker/')}"
    if name == "@local":
        return "local://"
    if name.startswith("@") and not name.startswith("@ssh/"):
        connector = name.split("/", 1)[0]
        raise ValueError(f"{name}: connector {connector} has no Testinfra mapping here")
    hostname = data.get("ssh_hostname") or name.removeprefix("@ssh/")
    user = data.get("ssh_user")
    port = data.get("ssh_port")
    netloc = f"{user}@{hostname}" if user else str(hostname)
    if port:
        netloc = f"{netloc}:{port}"
    query: dict[str, str] = {}
    if data.get("ssh_key"):
        query["ssh_identity_file"] = str(data["ssh_key"])
    if data.get("_sudo"):
        query["sudo"] = "true"
        if data.get("_sudo_user"):
            query["sudo_user"] = str(data["_sudo_user"])
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"ssh://{netloc}{suffix}"


def network_address(name: str, data: Mapping[str, Any]) -> str:
    """Where a client on this machine reaches the host's TCP services."""
    if name.startswith("@docker/"):
        import docker  # only needed for docker targets

        container = docker.from_env().containers.get(
            data.get("docker_identifier") or name.removeprefix("@docker/")
        )
        networks = container.attrs["NetworkSettings"]["Networks"].values()
        return str(next(n["IPAddress"] for n in networks if n.get("IPAddress")))
    if name == "@local":
        return "127.0.0.1"
    return str(data.get("ssh_hostname") or host_address(name))


def load_targets(inventory_path: str | Path) -> list[Target]:
    """Every inventory host as a Target; bad host data raises roles.spec.SpecError."""
    path = Path(inventory_path)
    with ctx_state.use(State()):
        inventory = make_inventory(str(path), cwd=str(Path.cwd()))
    specs = validated_specs(inventory)
    return [
        Target(
            name=host.name,
            groups=frozenset(host.groups),
            hostspec=hostspec_for(host.name, host.data.dict()),
            spec=specs[host.name],
            data=host.data.dict(),
        )
        for host in inventory
    ]
