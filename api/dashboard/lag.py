"""X2, durable lag SLOs: start lag (``started_at - scheduled_for``) at p50, p95, p99 and
its maximum, over 1 h, 24 h, 7 d and 30 d, per queue, per job type (``/ui/lag``, an
admin's view: the rollups count every tenant; reports.Lag) and per job (its page, for
its owner).

Read only from the rollups, never from ``runs``: the numbers are the same after any
restart, and outlive the runs' own retention. The last hour reads the per-minute
rollups; a day or more reads the hourly ones, so its window starts on the hour (the
current hour so far, and the whole hours before it). A job's rollups are hourly only:
its "1 h" is this hour so far and the one before.

A percentile is the upper bound of the histogram bucket it falls in ("≤ 250 ms"), not
an interpolation: exact where it matters (is the p99 under 5 s?) and never flattering.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from api.dashboard import charts
from shared.repository import rollups as rollup_repo
from shared.rollups import LAG_BUCKETS, LagSummary, lag_summary, summed

HOUR = timedelta(hours=1)
WINDOWS = {"1h": HOUR, "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip
LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}
# "Late" in the runs' count of late starts: the bucket bound the report's filter names.
LATE_SECONDS = 5.0


@dataclass(frozen=True)
class WindowLag:
    window: str
    label: str
    lag: LagSummary
    late: int  # runs that started over LATE_SECONDS late


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def window_start(window: str, now: datetime) -> datetime:
    """Where a window of hourly rollups starts: on the hour, the current one included."""
    return hour_of(now) - WINDOWS[window] + HOUR


def late_starts(buckets: tuple[int, ...]) -> int:
    first_late = next(i for i, bound in enumerate(LAG_BUCKETS) if bound > LATE_SECONDS)
    return sum(buckets[first_late:])


def window_lag(window: str, rows: Iterable[Mapping[Any, Any]]) -> WindowLag:
    total = summed(rows)
    lag = lag_summary(total["lag_buckets"], total["lag_max"])
    return WindowLag(window, LABELS[window], lag, late_starts(lag.buckets))


def job_lag(conn: Any, job_id: Any, now: datetime) -> list[WindowLag]:
    """A job's lag in each window, from its hourly rollups (one query)."""
    hours = rollup_repo.job_hours(conn, job_id, window_start("30d", now))
    # The job's "1 h": this hour so far and the one before.
    starts = {"1h": hour_of(now) - HOUR} | {
        window: window_start(window, now) for window in ("24h", "7d", "30d")
    }
    return [
        window_lag(window, [row for row in hours if row["hour"] >= start])
        for window, start in starts.items()
    ]


def grouped_lag(
    minutes: list[Any], hours: list[Any], key: str, now: datetime
) -> dict[str, list[WindowLag]]:
    """Each queue's (or type's, by ``key``) lag in every window."""
    names = sorted({row[key] for row in (*minutes, *hours)})
    last_hour = now - HOUR
    table = {}
    for name in names:
        windows = [
            window_lag("1h", (r for r in minutes if r[key] == name and r["minute"] >= last_hour))
        ]
        for window in ("24h", "7d", "30d"):
            start = window_start(window, now)
            windows.append(
                window_lag(window, (r for r in hours if r[key] == name and r["hour"] >= start))
            )
        table[name] = windows
    return table


def histogram_rows(lag: LagSummary) -> list[dict[str, Any]]:
    """The histogram as labelled rows, each with its share of the largest bucket."""
    top = max(lag.buckets, default=0) or 1
    labels = [f"< {charts.seconds_text(LAG_BUCKETS[0])}"]
    labels += [
        f"{charts.seconds_text(low)} to {charts.seconds_text(high)}"
        for low, high in pairwise(LAG_BUCKETS)
    ]
    labels.append(f"over {charts.seconds_text(LAG_BUCKETS[-1])}")
    return [
        {"label": label, "count": count, "width": round(100 * count / top, 1)}
        for label, count in zip(labels, lag.buckets, strict=True)
    ]
