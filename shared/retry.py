"""Retry backoff: the first retry waits ``retry_backoff_seconds``, each later one twice as
long as the one before, capped at an hour, with ±10% jitter so that runs that failed
together (a target went down) do not all come back in the same instant."""

from __future__ import annotations

import random
from datetime import timedelta

MAX_DELAY_SECONDS = 3600.0
JITTER = 0.10


def retry_delay(
    backoff_seconds: int, failed_attempt: int, rng: random.Random | None = None
) -> timedelta:
    """The wait before the attempt after ``failed_attempt`` (1 for the first attempt)."""
    base = min(backoff_seconds * 2.0 ** (failed_attempt - 1), MAX_DELAY_SECONDS)
    spread = (rng or random).uniform(-JITTER, JITTER)  # jitter, not security
    return timedelta(seconds=max(0.0, base * (1 + spread)))
