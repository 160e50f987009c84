"""Polling with a deadline: the e2e suite never sleeps to wait for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_UNSET: Any = object()


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    On timeout, fail with ``message`` and the last value observed (or the last
    exception raised), so a failure says what the system was doing instead.
    """
    deadline = time.monotonic() + timeout
    last: Any = _UNSET
    last_error: BaseException | None = None
    while True:
        try:
            last = predicate()
            last_error = None
        except AssertionError:
            raise
        except Exception as error:  # a transient failure is observed, not fatal
            last_error = error
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            observed = f"raised {last_error!r}" if last_error is not None else repr(last)
            raise AssertionError(
                f"timed out after {timeout:.1f}s waiting for {message}; last observed: {observed}"
            )
        time.sleep(interval)


def hold_for(
    predicate: Callable[[], Any],
    duration: float,
    interval: float = 0.1,
    message: str = "condition",
) -> None:
    """Check that ``predicate`` stays truthy for a whole observation window."""
    deadline = time.monotonic() + duration
    while True:
        value = predicate()
        if not value:
            raise AssertionError(f"{message} stopped holding; observed {value!r}")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


class Unmet:
    """A falsy result for :func:`wait_for` that still shows what was observed."""

    def __init__(self, observed: Any) -> None:
        self.observed = observed

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return repr(self.observed)
