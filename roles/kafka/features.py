"""The cluster's finalized feature levels across a release upgrade, as pure data.

A new release runs on the old feature levels until they are finalized: metadata.version
(and the features a fresh cluster of the release gets: group.version, transaction.version,
eligible.leader.replicas.version, share.version, streams.version ...) are raised with
`kafka-features.sh upgrade --feature name=level` once every broker runs the release (the
admin tool's `features --apply`). Never with `--release-version`: that also raises
kraft.version, turning the static quorum of controller.quorum.voters into a dynamic one
(KAFKA-21426); kraft.version is held where it is, as a fresh static cluster has it (0).

A finalized metadata.version cannot be lowered, and a release older than it does not start
("Unsupported metadata version"). Each broker records the release line whose levels the
cluster was finalized to (or formatted with) in RECORD, so a deploy refuses such a
kafka.version before any broker changes, and a deploy that changes nothing reads only that
file (no JVM).
"""

from __future__ import annotations

import re

from roles.kafka import config
from roles.spec import FieldError

# Written by the deploy after a finalization this broker saw, or at its first format.
RECORD = f"{config.CONFIG_DIR}/features.state"
# Never raised by Timestack: KAFKA-21426 (a static quorum would become a dynamic one).
HELD = ("kraft.version",)
HEADER = "# managed by Timestack: the release line this cluster's feature levels are finalized to"


def release_line(version: str) -> tuple[int, int]:
    """A release's line, the part that names its metadata versions: 4.4.0 → (4, 4). Patch
    releases of a line share its metadata versions, so moving between them is free."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def line_text(line: tuple[int, int]) -> str:
    return f"{line[0]}.{line[1]}"


def record_text(version: str) -> str:
    """The record for a cluster finalized to (or formatted with) `version`'s levels."""
    return f"{HEADER}\nrelease={line_text(release_line(version))}\n"


def parse_record(text: str | None) -> tuple[int, int] | None:
    """The release line of a record; None without one (or unreadable: nothing is refused)."""
    match = re.search(r"^release=(\d+)\.(\d+)\s*$", text or "", re.M)
    return (int(match[1]), int(match[2])) if match else None


def downgrade_refusal(
    host: str, version: str, finalized: tuple[int, int] | None
) -> FieldError | None:
    """Why kafka.version cannot be installed on a cluster finalized to `finalized`, or None."""
    if finalized is None or release_line(version) >= finalized:
        return None
    line, older = line_text(finalized), line_text(release_line(version))
    return FieldError(
        host,
        "kafka.version",
        version,
        f"{line}.0 or later: this cluster's feature levels are finalized to release {line} "
        f"({RECORD}), metadata.version cannot be lowered, and Kafka {older}"
        f' stops at start with "Unsupported metadata version"; nothing was changed '
        '(docs/kafka.md, "Release upgrades")',
    )
