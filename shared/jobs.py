"""A job as the domain knows it, apart from how it arrived (``shared.validation``) and
how it is stored (``shared.repository``): both depend on this module, not on each other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.recurrence import Schedule


@dataclass(frozen=True)
class JobSpec:
    """A valid submit body, with every default filled in."""

    name: str
    type: str
    payload: dict[str, Any]
    queue: str
    priority: int
    schedule: Schedule
    first_due: datetime
    max_attempts: int
    retry_backoff_seconds: int
    timeout_seconds: int
    misfire_policy: str
    overlap_policy: str


def schedule_of(job: Mapping[Any, Any]) -> Schedule:
    """A stored job's schedule."""
    return Schedule(
        run_at=job["run_at"],
        repeat=job["repeat"],
        interval_seconds=job["interval_seconds"],
        cron=job["cron"],
        timezone=job["timezone"],
        end_at=job["end_at"],
        max_runs=job["max_runs"],
    )
