"""An unprivileged local user on each lab host, watching while deploys run.

It plants files at the names pyinfra would stage uploads under in /tmp
(`/tmp/pyinfra-<sha1 of the destination>`), reads every file it can in /tmp, tries the deploy
user's staging directory, and samples every process's command line. The tests then assert it
learnt no secret and that nothing it planted was installed or run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lab.access import DEPLOY_USER, UNPRIVILEGED_USER
from roles.staging import STAGING_NAME

PLANTED = "-- planted by an unprivileged user\nCREATE TABLE public.planted_by_unprivileged ();\n"
STOP_FILE = f"/home/{UNPRIVILEGED_USER}/stop-watching"
# Bounded: a watcher ends by itself even if the test never stops it.
MAX_SECONDS = 2400

WATCHER = f"""
import json, os, subprocess, sys, time
planted = json.loads(sys.argv[1])
for path in planted:
    try:
        with open(path, "w") as handle:
            handle.write({PLANTED!r})
        os.chmod(path, 0o666)
    except OSError:
        pass
seen, read, commands, staging_listed = {{}}, {{}}, set(), []
deadline = time.monotonic() + {MAX_SECONDS}
while time.monotonic() < deadline and not os.path.exists({STOP_FILE!r}):
    for name in os.listdir("/tmp"):
        path = os.path.join("/tmp", name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        seen.setdefault(path, info.st_uid)
        if path in planted or path in read:
            continue
        try:
            with open(path, errors="replace") as handle:
                read[path] = handle.read(65536)
        except OSError:
            pass
    try:
        staging_listed = os.listdir(os.path.expanduser("~{DEPLOY_USER}/{STAGING_NAME}"))
    except OSError:
        pass
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    commands.update(ps.splitlines()[1:])
    time.sleep(0.2)
print(json.dumps({{"seen": seen, "read": read, "commands": sorted(commands),
                  "staging_listed": staging_listed}}))
"""


def staged_name(destination: str) -> str:
    """Where pyinfra's SSH connector stages an upload under sudo by default."""
    return f"/tmp/pyinfra-{hashlib.sha1(destination.encode()).hexdigest()}"


@dataclass
class Watcher:
    container: str
    process: subprocess.Popen[str]

    def stop(self) -> dict[str, Any]:
        subprocess.run(["docker", "exec", self.container, "touch", STOP_FILE], check=True)
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, f"{self.container}: watcher failed: {err}"
        return dict(json.loads(out))


def start(container: str, destinations: Iterable[str]) -> Watcher:
    """The watcher on `container` (the engine is the test's own channel into the host)."""
    planted = [staged_name(path) for path in destinations]
    command = ["docker", "exec", "-u", UNPRIVILEGED_USER, container, "python3", "-c", WATCHER]
    process = subprocess.Popen(
        [*command, json.dumps(planted)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Watcher(container, process)
