"""The Docker engine the lab runs on: install what is missing, start dockerd, connect."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException

DOCKERD_LOG = Path("/var/log/timestack-dockerd.log")
DOCKERD_PID = Path("/run/timestack-dockerd.pid")
# mvn: the lab's Kafka release is assembled from Maven Central (lab/kafka_release.py).
HOST_PACKAGES = {
    "dockerd": "docker.io",
    "debootstrap": "debootstrap",
    "mvn": "maven",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


class LabError(RuntimeError):
    """A lab step failed; the message says what and how to fix it."""


def ensure_host_packages() -> None:
    """apt-get install only the Debian packages whose commands are missing."""
    missing = sorted({pkg for cmd, pkg in HOST_PACKAGES.items() if not _which(cmd)})
    if not missing:
        return
    print(f"lab: installing {', '.join(missing)} on this machine")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")


def _which(command: str) -> str | None:
    # dockerd and debootstrap live in sbin, which is not on every user's PATH.
    return shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")


def client(start: bool = True, timeout: float = 30.0) -> docker.DockerClient:
    """A client for a responsive engine, starting dockerd first when none answers."""
    engine = _ping()
    if engine is not None:
        return engine
    if not start:
        raise LabError("the Docker engine is not running (python -m lab up starts it)")
    _start_dockerd()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        engine = _ping()
        if engine is not None:
            return engine
        if not _dockerd_alive():
            break
        time.sleep(0.5)
    raise LabError(f"dockerd did not become ready; last lines of {DOCKERD_LOG}:\n{_log_tail()}")


def _ping() -> docker.DockerClient | None:
    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except DockerException:
        return None
    return engine


def _start_dockerd() -> None:
    dockerd = _which("dockerd")
    if dockerd is None:
        raise LabError("dockerd is not installed (apt-get install docker.io)")
    if _dockerd_alive():
        return  # started but not answering yet
    # A dockerd that died leaves its pid files behind; a new one refuses to start then.
    for stale in (DOCKERD_PID, Path("/var/run/docker.pid")):
        stale.unlink(missing_ok=True)
    print(f"lab: starting dockerd (log {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        process = subprocess.Popen(
            [dockerd, "--pidfile", "/var/run/docker.pid"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    DOCKERD_PID.write_text(f"{process.pid}\n")


def _dockerd_alive() -> bool:
    try:
        pid = int(DOCKERD_PID.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A recycled pid that is not dockerd does not count.
    cmdline = Path(f"/proc/{pid}/cmdline")
    return cmdline.exists() and b"dockerd" in cmdline.read_bytes()


def _log_tail(lines: int = 20) -> str:
    try:
        return "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
