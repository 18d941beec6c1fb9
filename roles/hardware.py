"""What a host has — memory, CPUs, the disk behind a directory — read by one shell script
and parsed here, for PostgreSQL's tuning and Kafka's heap alike.

The script is shared by the deploy (a pyinfra fact) and the verify suite (Testinfra), so both
compute the settings from the same view of the hardware. Memory and CPUs honour cgroup
limits (v1 and v2, every level up to the root): a container or a systemd slice with a limit
must be tuned for the limit, not for the machine — what timescaledb-tune gets wrong.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Literal, get_args

Disk = Literal["hdd", "ssd", "nvme"]
DISKS: tuple[str, ...] = get_args(Disk)

SCRIPT = r"""
path=$1; wal=$2
while [ ! -e "$path" ]; do path=$(dirname "$path"); done
echo "mem_total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "cpus_online=$(getconf _NPROCESSORS_ONLN)"
levels() { dir="$1$2"; while :; do
  [ -r "$dir/$3" ] && echo "$dir"
  [ "$dir" = "$1" ] || [ "${#dir}" -le "${#1}" ] && break
  dir=${dir%/*}; done; }
while IFS=: read -r hier controllers cgpath; do
  case ",$controllers," in
    *,memory,*) for d in $(levels /sys/fs/cgroup/memory "$cgpath" memory.limit_in_bytes); do
        echo "memory_limit=$(cat "$d/memory.limit_in_bytes")"; done ;;
    *,cpu,*) root=/sys/fs/cgroup/$controllers; [ -d "$root" ] || root=/sys/fs/cgroup/cpu
      for d in $(levels "$root" "$cgpath" cpu.cfs_quota_us); do
        echo "cpu_limit=$(cat "$d/cpu.cfs_quota_us") $(cat "$d/cpu.cfs_period_us")"; done ;;
    ,,) root=/sys/fs/cgroup; [ -e $root/cgroup.controllers ] || root=/sys/fs/cgroup/unified
      for d in $(levels "$root" "$cgpath" memory.max); do
        echo "memory_limit=$(cat "$d/memory.max")"; done
      for d in $(levels "$root" "$cgpath" cpu.max); do echo "cpu_limit=$(cat "$d/cpu.max")"; done ;;
  esac
done < /proc/self/cgroup
source=$(df -P "$path" | awk 'NR==2 {print $1}')
echo "disk_source=$source"
name=$(basename "$(readlink -f "$source" 2>/dev/null || echo "$source")")
if [ -e "/sys/class/block/$name/partition" ]; then
  name=$(basename "$(dirname "$(readlink -f "/sys/class/block/$name")")"); fi
if [ -d "/sys/class/block/$name/slaves" ] && [ -n "$(ls "/sys/class/block/$name/slaves")" ]; then
  name=$(ls "/sys/class/block/$name/slaves" | head -n1)
  [ -e "/sys/class/block/$name/partition" ] && \
    name=$(basename "$(dirname "$(readlink -f "/sys/class/block/$name")")"); fi
if [ -r "/sys/block/$name/queue/rotational" ]; then
  echo "disk=$name $(cat "/sys/block/$name/queue/rotational")"
else
  for d in /sys/block/*; do case ${d##*/} in loop*|ram*|zram*|sr*|fd*|nbd*) continue;; esac
    echo "candidate_disk=${d##*/} $(cat "$d/queue/rotational")"; done
fi
[ -n "$wal" ] && [ -e "$wal" ] && echo "wal_fs_bytes=$(df -PB1 "$wal" | awk 'NR==2 {print $2}')"
true
"""


def command(data_directory: str, wal_directory: str | None = None) -> str:
    """The shell command that prints the facts for a cluster at these paths."""
    args = " ".join(shlex.quote(arg) for arg in (data_directory, wal_directory or ""))
    return f"sh -c {shlex.quote(SCRIPT)} timestack-hardware {args}"


@dataclass(frozen=True)
class DetectedHardware:
    memory_bytes: int
    cpus: int
    disk: Disk | None  # None: the data directory's device could not be told
    disk_device: str | None
    wal_fs_bytes: int | None
    notes: tuple[str, ...] = field(default=())


def _disk_type(name: str, rotational: str) -> Disk:
    if rotational.strip() == "1":
        return "hdd"
    return "nvme" if name.startswith("nvme") else "ssd"


def parse(lines: list[str]) -> DetectedHardware:
    values: dict[str, list[str]] = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep:
            values.setdefault(key, []).append(value.strip())
    ram = int(values["mem_total_kb"][0]) * 1024
    memory, notes = ram, []
    for limit in values.get("memory_limit", []):
        # cgroup v1 writes "no limit" as a page-rounded 2**63; v2 as "max".
        if limit.isdigit() and int(limit) < memory:
            memory = int(limit)
    if memory < ram:
        notes.append(f"cgroup memory limit {memory} bytes < RAM {ram} bytes")
    cpus = int(values["cpus_online"][0])
    for limit in values.get("cpu_limit", []):
        quota, _, period = limit.partition(" ")
        if quota.lstrip("-").isdigit() and int(quota) > 0 and period.isdigit():
            quota_cpus = max(1, math.ceil(int(quota) / int(period)))
            if quota_cpus < cpus:
                notes.append(f"cgroup CPU quota {quota}/{period} < {cpus} online CPUs")
                cpus = quota_cpus
    disk: Disk | None = None
    device: str | None = None
    if "disk" in values:
        device, _, rotational = values["disk"][0].partition(" ")
        disk = _disk_type(device, rotational)
    else:
        # Overlay, ZFS, tmpfs…: no device. One kind of disk on the machine still answers it.
        kinds = (
            {_disk_type(*candidate.partition(" ")[::2]) for candidate in values["candidate_disk"]}
            if "candidate_disk" in values
            else set()
        )
        source = values.get("disk_source", ["?"])[0]
        if len(kinds) == 1:
            disk = kinds.pop()
            notes.append(f"{source} has no block device; every disk here is {disk}")
        else:
            notes.append(f"{source} has no block device and the disks differ; set tuning.disk")
    wal = int(values["wal_fs_bytes"][0]) if "wal_fs_bytes" in values else None
    return DetectedHardware(memory, cpus, disk, device, wal, tuple(notes))
