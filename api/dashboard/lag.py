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
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from api.dashboard import charts
from shared.repository import rollups as rollup_repo
from shared.rollups import LAG_BUCKETS, LagSummary, lag_of

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
    """The UTC hour ``moment`` is in (the hourly rollups are keyed by UTC hours)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def window_start(window: str, now: datetime) -> datetime:
    """Where a window of hourly rollups starts: on the hour, the current one included."""
    return hour_of(now) - WINDOWS[window] + HOUR


def hour_edges(now: datetime) -> list[datetime]:
    """The starts of the day, week and month windows: ages 0, 1 and 2 of the hours."""
    return [window_start(window, now) for window in ("24h", "7d", "30d")]


def late_starts(buckets: tuple[int, ...]) -> int:
    first_late = next(i for i, bound in enumerate(LAG_BUCKETS) if bound > LATE_SECONDS)
    return sum(buckets[first_late:])


def window_lag(window: str, rows: Iterable[Mapping[Any, Any]]) -> WindowLag:
    lag = lag_of(rows)
    return WindowLag(window, LABELS[window], lag, late_starts(lag.buckets))


def windows_of(last_hour: list[Any], hours: list[Any]) -> list[WindowLag]:
    """The four windows from one group's rows: the last hour's minutes, and its hours by
    age (0: the day, 1: the rest of the week, 2: the rest of the month)."""
    return [
        window_lag("1h", last_hour),
        window_lag("24h", [row for row in hours if row["age"] == 0]),
        window_lag("7d", [row for row in hours if row["age"] <= 1]),
        window_lag("30d", hours),
    ]


def job_lag(conn: Any, job_id: Any, now: datetime) -> list[WindowLag]:
    """A job's lag in each window, from its hourly rollups (one query). Its "1 h" is
    this hour so far and the one before: its rollups are hourly only."""
    edges = [hour_of(now) - HOUR, *hour_edges(now)]
    by_age = rollup_repo.summed_by_age(conn, "job_stats_hour", "hour", edges, job_id=job_id)
    return [
        window_lag(window, [row for row in by_age if row["age"] <= limit])
        for window, limit in (("1h", 0), ("24h", 1), ("7d", 2), ("30d", 3))
    ]


def lag_table(conn: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """Every queue's and every type's windows, and the rows they came from: (by queue,
    by type, rows). Two queries, each summed in the database per queue, type and age."""
    since = minute_of(now) - HOUR
    minutes = rollup_repo.summed_by_age(
        conn, "run_stats_minute", "minute", [since], keys=("queue", "type")
    )
    hours = rollup_repo.summed_by_age(
        conn, "run_stats_hour", "hour", hour_edges(now), keys=("queue", "type")
    )
    tables = []
    for key in ("queue", "type"):
        names = sorted({row[key] for row in (*minutes, *hours)})
        tables.append(
            {
                name: windows_of(
                    [row for row in minutes if row[key] == name],
                    [row for row in hours if row[key] == name],
                )
                for name in names
            }
        )
    return tables[0], tables[1], [minutes, hours]


def overall(window: str, minutes: list[Any], hours: list[Any]) -> WindowLag:
    """Every queue's lag in one window."""
    return next(w for w in windows_of(minutes, hours) if w.window == window)


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
