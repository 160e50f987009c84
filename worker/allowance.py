"""Per-owner allowances for what a run spends outside Chronos: how many emails a user's
jobs may send an hour, across every worker process and host. A per-process limit alone
(CHRONOS_EMAIL_PER_MINUTE) bounds what the relay sees, but lets one user spend all of it;
this bounds each user's share.

The counters are the fixed-window rows the API's limits use (``login_throttle``, keyed
``<what>:<owner id>``), taken in one statement, so concurrent runs on several workers
cannot all pass a check made before any of them counted. The pruner drops them after a
day.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from shared.clock import Clock
from shared.repository import throttle as throttle_repo


class OwnerAllowance:
    """``allowance(what, limit, window)``: take one from the run owner's ``limit`` of
    ``what`` per ``window``; False (and nothing taken) once it is spent."""

    def __init__(self, engine: Callable[[], Engine], clock: Clock, owner_id: uuid.UUID) -> None:
        self._engine = engine
        self.clock = clock
        self.owner_id = owner_id

    def __call__(self, what: str, limit: int, window: timedelta) -> bool:
        with self._engine().begin() as conn:
            taken = throttle_repo.take(
                conn, f"{what}:{self.owner_id}", 1, limit, self.clock.now(), window
            )
        return taken is not None
