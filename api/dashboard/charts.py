"""The dashboard's charts, drawn on the server as SVG from rollup rows: no chart library,
no script, nothing the Content-Security-Policy would have to allow. Geometry only; the
templates draw it, and colour comes from app.css classes.

Every minute of the window gets a slot, a minute with no rollup row being a zero: a gap
in the chart is a quiet minute, never a missing one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.rollups import LAG_BUCKETS, LagSummary, lag_of, summed

MINUTE = timedelta(minutes=1)
FAILED = ("failed", "lost")


@dataclass(frozen=True)
class Minute:
    minute: datetime
    succeeded: int
    failed: int  # failed or lost


@dataclass(frozen=True)
class Bar:
    """One minute as a stacked bar: succeeded from the bottom, failed above it."""

    x: float
    width: float
    ok_y: float
    ok_height: float
    bad_y: float
    bad_height: float
    label: str


def per_minute(
    rows: Iterable[Mapping[Any, Any]], end: datetime, minutes: int, queue: str | None = None
) -> list[Minute]:
    """The ``minutes`` closed minutes before ``end``'s minute, oldest first, summed over
    queues and types (or of ``queue`` only)."""
    last = end.replace(second=0, microsecond=0)
    slots = {last - MINUTE * back: [0, 0] for back in range(minutes, 0, -1)}
    for row in rows:
        slot = slots.get(row["minute"])
        if slot is None or (queue is not None and row["queue"] != queue):
            continue
        slot[0] += row["succeeded"]
        slot[1] += sum(row[state] for state in FAILED)
    return [Minute(minute, ok, bad) for minute, (ok, bad) in slots.items()]


def bars(series: Sequence[Minute], width: float, height: float) -> list[Bar]:
    """Stacked bars filling ``width`` x ``height``, scaled to the busiest minute."""
    if not series:
        return []
    top = max((m.succeeded + m.failed for m in series), default=0) or 1
    step = width / len(series)
    drawn = []
    for index, minute in enumerate(series):
        ok = height * minute.succeeded / top
        bad = height * minute.failed / top
        drawn.append(
            Bar(
                x=round(index * step, 2),
                width=round(max(step - 1, 1), 2),
                ok_y=round(height - ok, 2),
                ok_height=round(ok, 2),
                bad_y=round(height - ok - bad, 2),
                bad_height=round(bad, 2),
                label=f"{minute.minute:%H:%M} UTC: {minute.succeeded} succeeded, "
                f"{minute.failed} failed",
            )
        )
    return drawn


def sparkline(values: Sequence[int], width: float, height: float) -> str:
    """An SVG polyline's points for ``values``, scaled to the largest."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{round(i * step, 1)},{round(height - height * v / top, 1)}" for i, v in enumerate(values)
    )


def lag_since(rows: Iterable[Mapping[Any, Any]], since: datetime) -> LagSummary:
    """Start lag of the runs in the minute rows from ``since`` on."""
    return lag_of(row for row in rows if row["minute"] >= since)


def finished_by_state(
    rows: Iterable[Mapping[Any, Any]], queue: str | None = None
) -> dict[str, Any]:
    """How many runs ended in each state (and the histogram), over the rows."""
    return summed(row for row in rows if queue is None or row["queue"] == queue)


def failure_rate(totals: Mapping[str, int]) -> float | None:
    """Failed or lost, of the runs that ran to an end (skipped and cancelled ones did
    not run, so they count on neither side); None when none did."""
    ran = totals["succeeded"] + sum(totals[state] for state in FAILED)
    if ran == 0:
        return None
    return sum(totals[state] for state in FAILED) / ran


def seconds_text(value: float | None) -> str:
    """A duration for people: "25 ms", "2.5 s", "4 min", "3 h"; a dash when unknown."""
    if value is None:
        return "\u2013"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s".replace(".0 s", " s")
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.0f} h"


def lag_bound(bound: float | None, summary: LagSummary) -> str:
    """A percentile from the histogram: at most its bucket's bound ("≤ 250 ms"), over
    the last bound ("> 1 h"), or a dash when no run started."""
    if summary.started == 0:
        return "\u2013"
    if bound is None:
        return f"> {seconds_text(LAG_BUCKETS[-1])}"
    return f"≤ {seconds_text(bound)}"
