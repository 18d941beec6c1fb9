"""SSH access to the lab hosts, as to servers: a key pair for the `deploy` user, made once,
and each host's own host key pinned in a known_hosts file the inventory uses.

The key pair and known_hosts live in lab/.state/ssh/ (0700, ignored by git). A host's key is
read through the engine (a channel that does not depend on SSH), so SSH itself never has to
trust a key on first use.
"""

from __future__ import annotations

import io
import socket
import subprocess
import tarfile
import time

from docker.models.containers import Container

from lab import LabHost
from lab.engine import LabError
from lab.secrets import STATE_DIR

SSH_DIR = STATE_DIR / "ssh"
PRIVATE_KEY = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
DEPLOY_USER = "deploy"
# A local user with a login and no sudo: the staging and sudo pre-flight tests act as it.
UNPRIVILEGED_USER = "unprivileged"
SSH_ADDRESS = "127.0.0.1"


def ensure_key_pair() -> None:
    """The lab's deploy key (ed25519, no passphrase, 0600), generated once."""
    SSH_DIR.parent.mkdir(mode=0o700, exist_ok=True)
    SSH_DIR.mkdir(mode=0o700, exist_ok=True)
    if PRIVATE_KEY.exists():
        return
    result = subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "timestack-lab",
            "-f",
            str(PRIVATE_KEY),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"ssh-keygen failed: {result.stderr.strip()}")


def authorize(container: Container) -> None:
    """Install the lab's public key for the deploy user and the unprivileged user."""
    public_key = PRIVATE_KEY.with_suffix(".pub").read_bytes()
    for user in (DEPLOY_USER, UNPRIVILEGED_USER):
        home = f"/home/{user}"
        _run(container, ["install", "-d", "-m", "0700", "-o", user, "-g", user, f"{home}/.ssh"])
        container.put_archive(f"{home}/.ssh", _tar("authorized_keys", public_key))
        _run(container, ["chown", f"{user}:{user}", f"{home}/.ssh/authorized_keys"])


def pin_host_key(container: Container, host: LabHost) -> None:
    """Record the host's ed25519 key for [127.0.0.1]:port, replacing what was there."""
    key = _host_key(container)
    entry = f"[{SSH_ADDRESS}]:{host.ssh_port}"
    lines = KNOWN_HOSTS.read_text().splitlines() if KNOWN_HOSTS.exists() else []
    kept = [line for line in lines if line.split(" ", 1)[0] != entry]
    KNOWN_HOSTS.write_text("\n".join([*kept, f"{entry} {key[0]} {key[1]}"]) + "\n")
    KNOWN_HOSTS.chmod(0o600)


def _host_key(container: Container, attempts: int = 5) -> list[str]:
    """The host's ed25519 public key as (type, key, comment). Under load the engine has
    answered an exec with status 0 and no output: ask again before giving up."""
    for _ in range(attempts):
        key = _run(container, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).split()
        if len(key) >= 2:
            return key
        time.sleep(1)
    key_file = "/etc/ssh/ssh_host_ed25519_key.pub"
    raise LabError(f"{container.name}: {key_file} read empty {attempts} times")


def wait_for_sshd(host: LabHost, timeout: float = 30.0) -> None:
    """Block until the published sshd port answers with an SSH banner."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((SSH_ADDRESS, host.ssh_port), timeout=2) as conn:
                if conn.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise LabError(
        f"{host.name}: no SSH banner on {SSH_ADDRESS}:{host.ssh_port} after {timeout:.0f}s"
    )


def _run(container: Container, command: list[str]) -> str:
    code, output = container.exec_run(command)
    if code != 0:
        raise LabError(f"{container.name}: {' '.join(command)} failed: {output.decode().strip()}")
    return str(output.decode())


def _tar(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o600
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
