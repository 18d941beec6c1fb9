"""roles.refusal: a role's refusal is one pyinfra error line, never a traceback."""

from __future__ import annotations

import gevent
from pyinfra.api.exceptions import OperationError

from roles.preflight import quiet_greenlet_errors
from roles.refusal import Refusal
from roles.spec import FieldError


def test_a_refusal_is_the_one_line_of_its_field_error() -> None:
    error = FieldError("db1", "postgres.tuning.reserve", "999GB", "less than 24GB")
    refusal = Refusal(error)
    assert isinstance(refusal, OperationError)
    assert str(refusal) == "db1: postgres.tuning.reserve: got 999GB; expected less than 24GB"
    assert refusal.error is error


def test_gevent_reports_no_traceback_for_a_refusal_in_a_greenlet() -> None:
    quiet_greenlet_errors()
    hub = gevent.get_hub()
    assert issubclass(Refusal, hub.NOT_ERROR)
    assert not issubclass(RuntimeError, hub.NOT_ERROR)  # a crash still prints its traceback
