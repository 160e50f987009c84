"""Lag percentiles from a rollup's histogram (shared.rollups): the nearest-rank bucket's
upper bound, the open top bucket, and rows summed bucket by bucket."""

from __future__ import annotations

import pytest

from shared.rollups import LAG_BUCKETS, lag_summary, percentile, summed

EMPTY = [0] * (len(LAG_BUCKETS) + 1)


def histogram(**counts: int) -> list[int]:
    """A histogram with ``b<index>=count`` buckets filled."""
    buckets = list(EMPTY)
    for name, count in counts.items():
        buckets[int(name[1:])] = count
    return buckets


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert percentile(EMPTY, 0.5) is None
    assert lag_summary(EMPTY, None).started == 0


@pytest.mark.parametrize(
    ("fraction", "bound"),
    [(0.5, LAG_BUCKETS[2]), (0.9, LAG_BUCKETS[2]), (0.95, LAG_BUCKETS[9]), (0.99, LAG_BUCKETS[9])],
)
def test_a_percentile_is_the_bound_of_the_bucket_holding_its_rank(
    fraction: float, bound: float
) -> None:
    # 90 runs under 25 ms, 10 between 2.5 and 5 s.
    assert percentile(histogram(b2=90, b9=10), fraction) == bound


def test_the_rank_is_rounded_up_so_one_slow_run_in_a_hundred_is_the_p99() -> None:
    buckets = histogram(b0=99, b12=1)
    assert percentile(buckets, 0.99) == LAG_BUCKETS[0]
    assert percentile(histogram(b0=98, b12=2), 0.99) == LAG_BUCKETS[12]


def test_a_rank_above_the_last_bound_is_open_and_the_maximum_says_how_far() -> None:
    summary = lag_summary(histogram(b0=1, b16=3), 7200.0)
    assert summary.p50 is None
    assert summary.p99 is None
    assert summary.max == 7200.0
    assert summary.started == 4


def test_rows_are_summed_state_by_state_and_bucket_by_bucket() -> None:
    row = {"succeeded": 2, "failed": 1, "skipped": 0, "lost": 0, "cancelled": 1}
    total = summed(
        [
            row | {"lag_buckets": histogram(b1=2), "lag_max": 0.009},
            row | {"lag_buckets": histogram(b1=1, b4=1), "lag_max": 0.07},
            row | {"lag_buckets": EMPTY, "lag_max": None},
        ]
    )
    assert (total["succeeded"], total["failed"], total["cancelled"]) == (6, 3, 3)
    assert total["lag_buckets"] == histogram(b1=3, b4=1)
    assert total["lag_max"] == 0.07
