"""Turn a pyinfra inventory into Testinfra targets, with each host's groups and spec.

The same inventory drives the deploy and the checks: `@docker/x` → `docker://x`,
`@local` → `local://`, SSH hosts → `ssh://user@host:port` with the inventory's SSH data.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra.api.state import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from roles import pki
from roles.hostdata import validated_specs
from roles.spec import HostSpec, host_address
from roles.spec.types import SECRETS_REQUIRED


@dataclass(frozen=True)
class Target:
    name: str  # the inventory's name for the host
    groups: frozenset[str]
    hostspec: str  # what testinfra.get_host takes
    backend_options: Mapping[str, str]  # and its keyword arguments
    spec: HostSpec
    data: Mapping[str, Any]  # the inventory's data for the host (connector keys included)

    @property
    def address(self) -> str:
        return network_address(self.name, self.data)

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def testinfra_host(self) -> Any:
        """The Testinfra host reaching this machine as pyinfra does."""
        import testinfra  # the verify extra: deploying does not need it

        return testinfra.get_host(self.hostspec, **self.backend_options)

    def endpoint(self, service: str, port: int) -> tuple[str, int]:
        """Where this machine reaches `service` (in-host `port`): host data
        `verify_endpoints[service]` ("address:port": behind NAT, a bastion or published
        ports), else the host's address and the in-host port."""
        named = (self.data.get("verify_endpoints") or {}).get(service)
        if named is None:
            return self.address, port
        address, _, published = str(named).rpartition(":")
        if not address or not published.isdigit():
            raise ValueError(
                f"{self.name}: verify_endpoints.{service}: got {named!r}; expected 'address:port'"
            )
        return address.strip("[]"), int(published)

    def tls_conninfo(self, service: str, port: int) -> str:
        """libpq parameters reaching `service` where `endpoint` says, over TLS verified
        against Timestack's CA on this machine (sslmode=verify-full): `host` is the name the
        host's certificate carries (its identity's common name), `hostaddr` the address
        dialled, which may be a published port or NAT address no certificate names."""
        address, published = self.endpoint(service, port)
        parameters = {
            "host": pki.identity(self.spec).common_name,
            "hostaddr": numeric_address(address, published),
            "port": str(published),
            "sslmode": "verify-full",
            "sslrootcert": str(local_ca()),
        }
        return " ".join(f"{key}={conninfo_value(value)}" for key, value in parameters.items())


def local_ca() -> Path:
    """The CA certificate of Timestack's CA on this machine (TIMESTACK_PKI_DIR)."""
    return pki.pki_dir() / "ca.crt"


def numeric_address(address: str, port: int) -> str:
    """`address` as libpq's hostaddr takes it: an IP address, resolved here if a name."""
    return str(socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][4][0])


def conninfo_value(value: str) -> str:
    """A libpq keyword/value connection string value, quoted when it must be."""
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
    if data.get("ssh_config_file"):
        query["ssh_config"] = str(data["ssh_config_file"])
    if data.get("_sudo"):
        query["sudo"] = "true"
        if data.get("_sudo_user"):
            query["sudo_user"] = str(data["_sudo_user"])
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"ssh://{netloc}{suffix}"


def backend_options(name: str, data: Mapping[str, Any]) -> dict[str, str]:
    """What Testinfra's ssh backend needs beyond the host spec (its URL query carries no
    OpenSSH options): the host-key policy pyinfra uses, and one shared login per host."""
    spec = hostspec_for(name, data)
    if not spec.startswith("ssh://"):
        return {}
    return {
        "ssh_extra_args": " ".join(_ssh_options(data)),
        # One socket per host spec (OpenSSH's %C would go through Testinfra's %-formatting).
        "controlpath": str(_control_directory() / hashlib.sha1(spec.encode()).hexdigest()[:16]),
    }


def _ssh_options(data: Mapping[str, Any]) -> list[str]:
    """OpenSSH options matching what pyinfra's connector does with the same host data: the
    inventory's known_hosts file and host-key policy (never weaker than pyinfra's default,
    accept-new), and no interactive prompt (CI has no terminal)."""
    options = ["-o BatchMode=yes"]
    if data.get("ssh_known_hosts_file"):
        known_hosts = Path(str(data["ssh_known_hosts_file"])).expanduser()
        options.append(f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))}")
    policy = str(data.get("ssh_strict_host_key_checking") or "accept-new")
    options.append(f"-o StrictHostKeyChecking={shlex.quote(policy)}")
    return options


def _control_directory() -> Path:
    """A private directory for OpenSSH's connection sharing: one login per host per run."""
    path = Path(tempfile.gettempdir()) / f"timestack-ssh-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o077:
        raise ValueError(f"{path} must be a directory of uid {os.getuid()} with mode 0700")
    return path


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


def load_targets(inventory_path: str | Path, group_data: Sequence[str | Path] = ()) -> list[Target]:
    """Every inventory host as a Target; bad host data raises roles.spec.SpecError. Group
    data is read as pyinfra reads it: `group_data/` in the current directory, then beside
    the inventory file, then each of `group_data` (pyinfra's --group-data), later winning."""
    path = Path(inventory_path)
    with ctx_state.use(State()):
        inventory = make_inventory(
            str(path),
            cwd=str(Path.cwd()),
            group_data_directories=[str(folder) for folder in group_data],
        )
    token = SECRETS_REQUIRED.set(False)
    try:
        specs = validated_specs(inventory)
    finally:
        SECRETS_REQUIRED.reset(token)
    return [
        Target(
            name=host.name,
            groups=frozenset(host.groups),
            hostspec=hostspec_for(host.name, host.data.dict()),
            backend_options=backend_options(host.name, host.data.dict()),
            spec=specs[host.name],
            data=host.data.dict(),
        )
        for host in inventory
    ]
