"""What the per-minute rollups count: the fixed lag buckets, shared by the rollup table
(``run_stats_minute.lag_buckets``) and the workers' Prometheus histogram, so that the
dashboard and the metrics agree on what "late" means."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# started_at - scheduled_for, in seconds: from a dispatch that kept up (milliseconds) to a
# backlog or an outage (minutes); a retry's lag includes its backoff. A rollup's
# histogram has one more bucket than bounds: the last counts everything above an hour.
LAG_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0,
)  # fmt: skip
# The end states a rollup counts, each a column of run_stats_minute.
COUNTED_STATES = ("succeeded", "failed", "skipped", "lost", "cancelled")


@dataclass(frozen=True)
class LagSummary:
    """Start lag over a window, from rollup rows: how many runs started, each percentile
    as the upper bound of the bucket it falls in (None above the last bound: "over an
    hour"), the measured maximum, and the histogram itself."""

    started: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    buckets: tuple[int, ...]


def summed(rows: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    """The rows' counts per state, bucket by bucket histogram, and largest lag."""
    total: dict[str, Any] = {state: 0 for state in COUNTED_STATES}
    buckets = [0] * (len(LAG_BUCKETS) + 1)
    worst: float | None = None
    for row in rows:
        for state in COUNTED_STATES:
            total[state] += row[state]
        for index, count in enumerate(row["lag_buckets"]):
            buckets[index] += count
        if row["lag_max"] is not None:
            worst = row["lag_max"] if worst is None else max(worst, row["lag_max"])
    return total | {"lag_buckets": buckets, "lag_max": worst}


def lag_summary(buckets: Sequence[int], worst: float | None) -> LagSummary:
    started = sum(buckets)
    return LagSummary(
        started=started,
        p50=percentile(buckets, 0.50),
        p95=percentile(buckets, 0.95),
        p99=percentile(buckets, 0.99),
        max=worst,
        buckets=tuple(buckets),
    )


def lag_of(rows: Iterable[Mapping[Any, Any]]) -> LagSummary:
    """The start lag of the runs the rollup rows count."""
    total = summed(rows)
    return lag_summary(total["lag_buckets"], total["lag_max"])


def percentile(buckets: Sequence[int], fraction: float) -> float | None:
    """The upper bound of the bucket holding the run at ``fraction`` of the way up (the
    nearest-rank method: at least that share of runs started no later). None for an
    empty histogram, or when the rank is in the open bucket above the last bound, where
    the caller shows the maximum instead."""
    started = sum(buckets)
    if started == 0:
        return None
    rank = max(1, math.ceil(fraction * started))
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return LAG_BUCKETS[index] if index < len(LAG_BUCKETS) else None
    return None
