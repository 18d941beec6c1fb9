#!/usr/bin/env python3
"""When each certificate Timestack's CA issued this host expires, for node exporter's
textfile collector.

    tls_expiry.py --output /var/lib/prometheus/node-exporter/timestack_tls.prom \\
        postgresql=/etc/timestack/tls/postgresql/host.crt ca=/etc/timestack/tls/ca.crt

Run ON every host by a systemd timer the monitoring role installs, with one SERVICE=PATH per
certificate the roles put on the host. Each is read with `openssl x509 -enddate` (openssl
comes with ca-certificates, a base package), so the figure is the file's own, whatever the
deploy intended: a certificate a deploy renewed shows its new date at the next run.

Per certificate: `timestack_tls_certificate_not_after_seconds{service,path}` (Unix time; the
alert compares it with time(), so a stopped timer cannot hide an expiry) and
`timestack_tls_certificate_read_success{service,path}` (0: missing or unreadable, no date).
The file is replaced atomically (node exporter never reads half of it); a certificate that
cannot be read is reported on stderr (the journal) and by its metric, never by failing.
Standard library only: the unit tests import the pure helpers.
"""

from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence

TIMEOUT = 10.0
Key = tuple[str, str]  # (service, path)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def targets(arguments: Sequence[str]) -> list[Key]:
    """SERVICE=PATH arguments as (service, path) pairs; ValueError names a malformed one."""
    found = []
    for argument in arguments:
        service, equals, path = argument.partition("=")
        if not equals or not service or not path.startswith("/"):
            raise ValueError(f"{argument!r}: expected SERVICE=/absolute/path")
        found.append((service, path))
    return found


def not_after(openssl_output: str) -> float:
    """The Unix time of `openssl x509 -noout -enddate`'s "notAfter=Mar  3 12:00:00 2029 GMT"."""
    for line in openssl_output.splitlines():
        if line.startswith("notAfter="):
            return float(ssl.cert_time_to_seconds(line.removeprefix("notAfter=").strip()))
    raise ValueError(f"no notAfter= line in {openssl_output!r}")


def read_not_after(path: str) -> float:
    """`path`'s expiry; OSError or ValueError when it cannot be read."""
    result = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-in", path],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(result.stderr.strip() or f"openssl exited {result.returncode}")
    return not_after(result.stdout)


def textfile(found: Mapping[Key, float | None], now: float) -> str:
    """The exposition: each certificate's expiry (None: unreadable), then the run's time."""
    lines = [
        "# HELP timestack_tls_certificate_not_after_seconds When a certificate from "
        "Timestack's CA expires (Unix time).",
        "# TYPE timestack_tls_certificate_not_after_seconds gauge",
    ]
    for (service, path), expires in sorted(found.items()):
        if expires is not None:
            lines.append(
                f'timestack_tls_certificate_not_after_seconds{{service="{_label(service)}",'
                f'path="{_label(path)}"}} {expires:.0f}'
            )
    lines += [
        "# HELP timestack_tls_certificate_read_success Whether the certificate file could be read.",
        "# TYPE timestack_tls_certificate_read_success gauge",
    ]
    for (service, path), expires in sorted(found.items()):
        lines.append(
            f'timestack_tls_certificate_read_success{{service="{_label(service)}",'
            f'path="{_label(path)}"}} {int(expires is not None)}'
        )
    lines += [
        "# HELP timestack_tls_expiry_collected_timestamp_seconds When the files were last read.",
        "# TYPE timestack_tls_expiry_collected_timestamp_seconds gauge",
        f"timestack_tls_expiry_collected_timestamp_seconds {now:.0f}",
    ]
    return "\n".join(lines) + "\n"


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    handle, partial = tempfile.mkstemp(dir=directory, prefix=".timestack_tls.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.chmod(partial, 0o644)
    os.replace(partial, path)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("certificates", nargs="+", metavar="SERVICE=PATH")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        wanted = targets(args.certificates)
    except ValueError as error:
        parser.error(str(error))
    found: dict[Key, float | None] = {}
    for service, path in wanted:
        try:
            found[(service, path)] = read_not_after(path)
        except (OSError, ValueError, subprocess.SubprocessError) as error:
            found[(service, path)] = None
            print(f"tls_expiry: {service} {path}: {error}", file=sys.stderr)
    write_atomically(args.output, textfile(found, time.time()))
    # An unreadable certificate is a metric (and an alert), not a failed unit: the file
    # was written, and a failed unit would only leave systemd degraded.
    return 0


if __name__ == "__main__":
    sys.exit(main())
