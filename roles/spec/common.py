"""The `common` section: what every host gets (time zone, packages, kernel settings, limits).

Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from roles.spec.types import (
    DebPackage,
    Port,
    SpecModel,
    SysctlKey,
    Timezone,
)

DEFAULT_SYSCTL: dict[str, int | str] = {
    "vm.swappiness": 1,  # keep the buffer cache and shared_buffers in RAM
    "vm.max_map_count": 262144,  # Kafka maps two index files per log segment
    "net.core.somaxconn": 4096,  # accept backlog for pgBouncer's and Kafka's bursts
    "fs.file-max": 2097152,  # system-wide ceiling above every per-process nofile
}
BASE_PACKAGES = (
    "ca-certificates",
    "curl",
    "gnupg",
    "chrony",
    "sysstat",
    "procps",
    "iproute2",
    "lsof",
    "less",
)


class CommonSpec(SpecModel):
    timezone: Timezone = Field("UTC", description="IANA time zone of the host clock and logs")
    base_packages: list[DebPackage] = Field(
        list(BASE_PACKAGES), description="apt packages every host gets (replaces the default list)"
    )
    apt_cache_seconds: int = Field(
        3600, description="skip apt-get update while the cache is younger", ge=0
    )
    sysctl: dict[SysctlKey, int | str] = Field(
        dict(DEFAULT_SYSCTL),
        description="kernel settings, merged over the defaults (vm.swappiness=1, "
        "vm.max_map_count=262144, net.core.somaxconn=4096, fs.file-max=2097152). "
        "vm.overcommit_memory stays at the kernel "
        "default 0: strict mode 2 (what the PostgreSQL docs suggest for dedicated database "
        "hosts) caps commits at swap + 50% of RAM unless vm.overcommit_ratio is raised too, "
        "which breaks small hosts and JVM (Kafka) hosts; set both on dedicated database hosts",
    )
    nofile: int = Field(65536, description="open-file limit for sessions and services", ge=1024)
    transparent_hugepages: Literal["never", "madvise"] = Field(
        "never", description="THP mode; never avoids latency spikes in PostgreSQL and the JVM"
    )
    exposed_ports: list[Port] = Field(
        [22],
        description="TCP ports any process may listen on at every address (sshd, which pyinfra "
        "uses); the verify suite fails on any other listener on 0.0.0.0 or :: that no service's "
        "listen setting declares",
    )

    @field_validator("sysctl")
    @classmethod
    def _over_defaults(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        return {**DEFAULT_SYSCTL, **value}
