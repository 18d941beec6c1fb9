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
DOCKER_PID = Path("/var/run/docker.pid")  # dockerd's own, named by --pidfile
CONTAINERD_PID = Path("/var/run/docker/containerd/containerd.pid")
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
    if _dockerd_alive():
        return _wait_ready(None, timeout, 0)  # started earlier, not answering yet
    log_start = DOCKERD_LOG.stat().st_size if DOCKERD_LOG.exists() else 0
    return _wait_ready(_start_dockerd(), timeout, log_start)


def _wait_ready(
    process: subprocess.Popen[bytes] | None, timeout: float, log_start: int
) -> docker.DockerClient:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        engine = _ping()
        if engine is not None:
            return engine
        # poll() also reaps an exited dockerd: where nothing reaps orphans, its pid lives on.
        if process is not None and process.poll() is not None:
            raise LabError(
                f"dockerd exited with status {process.returncode} while starting; "
                f"its log since then:\n{_log_since(log_start)}"
            )
        time.sleep(0.5)
    raise LabError(
        f"dockerd did not answer within {timeout:.0f}s; its log since start:\n"
        f"{_log_since(log_start)}"
    )


def _ping() -> docker.DockerClient | None:
    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except DockerException:
        return None
    return engine


def _start_dockerd() -> subprocess.Popen[bytes]:
    dockerd = _which("dockerd")
    if dockerd is None:
        raise LabError("dockerd is not installed (apt-get install docker.io)")
    # A machine restored from a snapshot, or a dockerd that died, leaves pid files behind whose
    # pids may now be other processes': dockerd then refuses to start, or waits for a
    # containerd that is not there, so they go when the process they name is not running.
    for stale, name in (
        (DOCKERD_PID, b"dockerd"),
        (DOCKER_PID, b"dockerd"),
        (CONTAINERD_PID, b"containerd"),
    ):
        if not _running(stale, name):
            stale.unlink(missing_ok=True)
    print(f"lab: starting dockerd (log {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        process = subprocess.Popen(
            [dockerd, "--pidfile", str(DOCKER_PID)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    DOCKERD_PID.write_text(f"{process.pid}\n")
    return process


def _dockerd_alive() -> bool:
    return _running(DOCKERD_PID, b"dockerd")


def _running(pid_file: Path, name: bytes) -> bool:
    """Whether pid_file names a live process whose command line contains name."""
    try:
        pid = int(pid_file.read_text().strip())
        # A zombie keeps its pid but has an empty command line; a recycled pid another name.
        return name in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False


def _log_since(offset: int, lines: int = 15) -> str:
    try:
        with DOCKERD_LOG.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) + f"\n(whole log: {DOCKERD_LOG})"
