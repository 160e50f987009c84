"""Retry backoff: doubling from retry_backoff_seconds, capped at an hour, ±10% jitter."""

from __future__ import annotations

import random

import pytest

from shared.retry import retry_delay


@pytest.mark.parametrize(
    ("backoff", "failed_attempt", "base"),
    [(30, 1, 30), (30, 2, 60), (30, 3, 120), (30, 8, 3600), (1000, 3, 3600), (0, 5, 0)],
)
def test_the_delay_doubles_and_is_capped_with_ten_percent_jitter(
    backoff: int, failed_attempt: int, base: float
) -> None:
    rng = random.Random(7)
    delays = [retry_delay(backoff, failed_attempt, rng).total_seconds() for _ in range(500)]
    assert min(delays) >= base * 0.9
    assert max(delays) <= base * 1.1
    if base:
        assert max(delays) - min(delays) > base * 0.15  # the jitter really spreads them


def test_the_jitter_comes_from_the_given_source() -> None:
    first = retry_delay(30, 2, random.Random(1))
    assert retry_delay(30, 2, random.Random(1)) == first
