"""Where Timestack keeps its own files on a host."""

from __future__ import annotations

STATE_DIR = "/var/lib/timestack"
# Root-only (0700) staging for files that carry secrets (SCRAM verifiers in SQL, pgBackRest
# keys): a file gets its owner and mode here before it is moved into place or read, then is
# removed. Not /run: `docker cp` (the docker connector) cannot write into a tmpfs mount.
SECRET_DIR = f"{STATE_DIR}/secrets"
