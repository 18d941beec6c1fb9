"""The ingest writers' alert rules, from their own endpoint (roles/ingest/writer/metrics.py).

A writer that is down leaves its partitions to the others (the group moves them), so one
down is a warning-level loss of headroom only when others run; none running stops ingest,
which the consumer lag alert (KafkaConsumerGroupLag) reports too. Rejects are messages the
tables refused: kept with their reason in timestack.ingest_rejects, never retried.
"""

from __future__ import annotations

from collections.abc import Sequence

from roles.monitoring.rules_model import Alert, Group
from roles.spec import HostSpec
from roles.spec.monitoring import Thresholds

REJECTS_WINDOW = "10m"


def ingest_group(t: Thresholds, specs: Sequence[HostSpec]) -> Group:
    writers = [s for s in specs if "ingest" in s.groups]
    down = 'up{job="ingest"} == 0 or absent(up{job="ingest"})' if writers else "vector(0) > 1"
    return Group(
        "timestack-ingest",
        (
            Alert(
                "IngestWriterDown",
                down,
                "1m",
                "critical",
                "{{ if $labels.host }}The ingest writer on {{ $labels.host }}{{ else }}An "
                "ingest writer{{ end }} is not answering scrapes",
                "timestack-ingest.service; its partitions move to the other writers",
                "its endpoint unreachable for 1 minute",
            ),
            Alert(
                "IngestRejects",
                f"sum by (host, table) (increase(timestack_ingest_rejects_total[{REJECTS_WINDOW}]))"
                f" > {t.ingest_rejects}",
                "0m",
                "warning",
                "{{ $value }} messages for {{ $labels.table }} were kept as rejects by "
                "{{ $labels.host }}: SELECT * FROM timestack.ingest_rejects ORDER BY id DESC",
                "timestack_ingest_rejects_total of the writers",
                f"more than {t.ingest_rejects} within {REJECTS_WINDOW} "
                "(monitoring.thresholds.ingest_rejects)",
            ),
        ),
    )
