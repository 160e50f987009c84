"""How alive a running run looks, from its last heartbeat: the badge on the run page and
in a job's runs table (X5). Pure: no I/O, ``now`` passed in, unit-tested.

A worker refreshes ``heartbeat_at`` every CHRONOS_HEARTBEAT_SECONDS while a run is in
progress, and the rescuer (scheduler.rescuer) marks a run lost once its heartbeat is
older than the lease, CHRONOS_LEASE_SECONDS: strictly older, so a heartbeat exactly a
lease old is still amber here, as it is still running there.

- fresh (green): the heartbeat is younger than one interval, as it always is while the
  worker is well;
- late (amber): one or more heartbeats are missing, but the lease has not run out;
- expired (red): the lease ran out, and the rescuer's next pass marks the run lost.

The words say the state too, so the badge does not rely on its colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.settings import Settings
from shared.states import RunState


class Pulse(StrEnum):
    FRESH = "fresh"
    LATE = "late"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Liveness:
    pulse: Pulse
    age: timedelta
    lost_at: datetime
    """When the lease runs out: the last heartbeat plus the lease."""
    words: str
    """The badge: "heartbeat 3 s ago", "heartbeat 12 s ago: late", "no heartbeat for
    41 s: will be marked lost"."""
    countdown: str
    """Until ``lost_at``: "in 17 s", or "at the rescuer's next pass" once it is past."""


def span(seconds: float) -> str:
    """Whole seconds, briefly: "41 s", "2 min 5 s", "3 h 4 min"."""
    whole = max(0, int(seconds))
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def pulse_of(age: timedelta, interval: timedelta, lease: timedelta) -> Pulse:
    """The colour rule: green under one heartbeat interval, amber up to the lease, red
    past it."""
    if age < interval:
        return Pulse.FRESH
    if age <= lease:
        return Pulse.LATE
    return Pulse.EXPIRED


def liveness(
    heartbeat_at: datetime, now: datetime, *, interval: timedelta, lease: timedelta
) -> Liveness:
    """A running run's liveness at ``now``, given its last heartbeat."""
    # A heartbeat "ahead" of now (hosts' clocks a little apart) is as fresh as can be.
    age = max(now - heartbeat_at, timedelta(0))
    pulse = pulse_of(age, interval, lease)
    seconds = age.total_seconds()
    if pulse is Pulse.FRESH:
        words = "heartbeat just now" if seconds < 1 else f"heartbeat {span(seconds)} ago"
    elif pulse is Pulse.LATE:
        words = f"heartbeat {span(seconds)} ago: late"
    else:
        words = f"no heartbeat for {span(seconds)}: will be marked lost"
    lost_at = heartbeat_at + lease
    left = (lost_at - now).total_seconds()
    countdown = f"in {span(math.ceil(left))}" if left > 0 else "at the rescuer's next pass"
    return Liveness(pulse, age, lost_at, words, countdown)


class HeartbeatRule:
    """:func:`liveness` with this deployment's interval and lease, for the templates:
    ``heartbeat(run, now)`` is None unless the run is running."""

    def __init__(self, interval_seconds: float, lease_seconds: float) -> None:
        self.interval = timedelta(seconds=interval_seconds)
        self.lease = timedelta(seconds=lease_seconds)

    @classmethod
    def of(cls, settings: Settings) -> HeartbeatRule:
        return cls(settings.heartbeat_seconds, settings.lease_seconds)

    def __call__(self, run: Mapping[str, Any], now: datetime) -> Liveness | None:
        if run["state"] != RunState.RUNNING:
            return None
        # A worker sets heartbeat_at as it starts a run; started_at is a fallback only.
        beat = run["heartbeat_at"] or run["started_at"]
        if beat is None:
            return None
        return liveness(beat, now, interval=self.interval, lease=self.lease)
