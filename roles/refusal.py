"""The one way a role refuses: a pyinfra error whose message is one line naming the host, the
field of host data and the fix (the same `host: field: got …; expected …` line as a
validation error), raised while the deploy is prepared wherever the facts allow it.
"""

from __future__ import annotations

from pyinfra.api.exceptions import OperationError

from roles.spec import FieldError


class Refusal(OperationError):
    """Timestack will not deploy this host as it stands; nothing was changed for this reason.
    An OperationError, so pyinfra prints its one line whether it is raised in a @deploy body
    (while preparing) or in an operation (while executing)."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(str(error))
        self.error = error
