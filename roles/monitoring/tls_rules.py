"""Alert rules for the certificates Timestack's CA issued, from the node exporter textfile
roles/monitoring/tls_expiry.py writes on every host.

A deploy reissues a host's certificate once it expires within tls.renew_before_days (30 by
default) and the roles reload their services; the alert fires when a certificate is inside
monitoring.thresholds.tls_certificate_expiry (30 days) and still not renewed: deploy that
host (docs/tls.md).
"""

from __future__ import annotations

from roles.monitoring.config import TLS_EXPIRY_UNIT, prometheus_duration, seconds
from roles.monitoring.rules_model import Alert, Group
from roles.spec.monitoring import Thresholds


def tls_group(t: Thresholds) -> Group:
    within = seconds(t.tls_certificate_expiry)
    return Group(
        "timestack-tls",
        (
            Alert(
                "TlsCertificateExpiring",
                f"timestack_tls_certificate_not_after_seconds - time() < {within}",
                "15m",
                "warning",
                "the {{ $labels.service }} certificate {{ $labels.path }} on {{ $labels.host }} "
                "expires in {{ $value | humanizeDuration }}: deploy the host to renew it",
                f"{TLS_EXPIRY_UNIT}.timer (openssl x509 -enddate of each certificate)",
                f"less than {prometheus_duration(t.tls_certificate_expiry)} of validity left "
                "(monitoring.thresholds.tls_certificate_expiry), for 15 minutes",
            ),
            Alert(
                "TlsCertificateUnreadable",
                "timestack_tls_certificate_read_success == 0",
                "15m",
                "warning",
                "the {{ $labels.service }} certificate {{ $labels.path }} on {{ $labels.host }} "
                "cannot be read: its expiry is unknown",
                f"{TLS_EXPIRY_UNIT}.service's journal says why",
                "missing or not a certificate, for 15 minutes",
            ),
        ),
    )
