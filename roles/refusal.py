"""The one way a role refuses: a pyinfra error whose message is one line naming the host, the
field of host data and the fix (the same `host: field: got …; expected …` line as a
validation error), raised while the deploy is prepared wherever the facts allow it.
"""

from __future__ import annotations

from importlib.metadata import version

import gevent
from pyinfra.api.exceptions import OperationError, PyinfraError

from roles.spec import FieldError


class Refusal(OperationError):
    """Timestack will not deploy this host as it stands; nothing was changed for this reason.
    An OperationError, so pyinfra prints its one line whether it is raised in a @deploy body
    (while preparing) or in an operation (while executing)."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(str(error))
        self.error = error


def quiet_pyinfra_errors_in_greenlets() -> None:
    """pyinfra 3 connects and runs operations in gevent greenlets, and gevent's hub prints the
    traceback of any exception a greenlet ends with before pyinfra reports it in one line. A
    PyinfraError is such a report, not a crash: a refusal only decided while executing (a
    Kafka topic seen once the broker runs, a ledger row changed since preparing), a missing
    SSH key file. Keep its traceback out; any other exception still prints one. Called from
    config.py, which pyinfra reads before it connects. pyinfra 4 may run operations
    differently: re-check there."""
    if version("pyinfra").split(".")[0] != "3":
        return
    hub = gevent.get_hub()
    if PyinfraError not in hub.NOT_ERROR:
        hub.NOT_ERROR = (*hub.NOT_ERROR, PyinfraError)
