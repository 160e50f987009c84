"""The audit log: what a change records, apart from how it is stored
(``shared.repository.audit``).

Every change a user or operator makes writes one event in the transaction that makes it,
so an event exists exactly when its change committed. An event names who (``actor_id``;
None for an operator at the command line), what (:class:`Action`), which object, when
and the request id, and carries a small summary in ``details``. The summaries below pick
the fields they show one by one and never copy a payload, a body or a row whole: a
password, its hash, a token or a payload's headers cannot end up in the log by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.clock import format_time


class Action(StrEnum):
    JOB_CREATE = "job.create"
    JOB_CANCEL = "job.cancel"
    JOB_PAUSE = "job.pause"
    JOB_RESUME = "job.resume"
    JOB_RESCHEDULE = "job.reschedule"
    JOB_TRIGGER = "job.trigger"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    USER_DELETE = "user.delete"
    QUEUE_UPDATE = "queue.update"
    """An operator's change to a queue's controls (paused, concurrency)."""


class ObjectType(StrEnum):
    JOB = "job"
    USER = "user"
    QUEUE = "queue"


@dataclass(frozen=True)
class Change:
    """One event to record: what was done to which object, and its summary."""

    action: Action
    object_type: ObjectType
    object_id: str
    details: dict[str, Any] = field(default_factory=dict)


SCHEDULE_FIELDS = ("run_at", "repeat", "interval_seconds", "cron", "timezone", "end_at", "max_runs")
TIME_FIELDS = frozenset({"run_at", "end_at"})


def schedule_summary(job: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored job's schedule, with only the fields it sets."""
    summary: dict[str, Any] = {}
    for name in SCHEDULE_FIELDS:
        value = job[name]
        if value is not None:
            summary[name] = format_time(value) if name in TIME_FIELDS else value
    return summary


def job_created(job: Mapping[Any, Any]) -> Change:
    """A new job: what it runs where, and when; not its payload."""
    details = {
        "name": job["name"],
        "type": job["type"],
        "queue": job["queue"],
        "priority": job["priority"],
        "schedule": schedule_summary(job),
    }
    return Change(Action.JOB_CREATE, ObjectType.JOB, str(job["id"]), details)


def job_status_changed(action: Action, job: Mapping[Any, Any], to: str) -> Change:
    """Cancel, pause or resume: ``job`` as it was before."""
    details = {"name": job["name"], "status": {"from": job["status"], "to": to}}
    return Change(action, ObjectType.JOB, str(job["id"]), details)


def job_rescheduled(before: Mapping[Any, Any], after: Mapping[Any, Any]) -> Change:
    details = {
        "name": after["name"],
        "schedule": {"from": schedule_summary(before), "to": schedule_summary(after)},
    }
    return Change(Action.JOB_RESCHEDULE, ObjectType.JOB, str(after["id"]), details)


def job_triggered(job_id: uuid.UUID, run: Mapping[Any, Any]) -> Change:
    """An extra run: which one, and when it is due."""
    details = {"run_id": str(run["id"]), "scheduled_for": format_time(run["scheduled_for"])}
    return Change(Action.JOB_TRIGGER, ObjectType.JOB, str(job_id), details)


def user_created(user: Mapping[Any, Any], via: str) -> Change:
    """``via``: ``signup`` (the API) or ``cli`` (``python -m api.admin``)."""
    details = {"username": user["username"], "role": user["role"], "via": via}
    return Change(Action.USER_CREATE, ObjectType.USER, str(user["id"]), details)


# The stored columns a user update may change, by the name the client used.
USER_FIELDS = {
    "username": "username",
    "email": "email",
    "role": "role",
    "password_hash": "password",
}


def user_updated(before: Mapping[Any, Any], changes: Mapping[Any, Any]) -> Change | None:
    """The names of the fields that changed (a new password always does; it is never
    shown), and a role change from and to; None if nothing changed."""
    changed = sorted(
        USER_FIELDS[column]
        for column, value in changes.items()
        if column in USER_FIELDS and (column == "password_hash" or before[column] != value)
    )
    if not changed:
        return None
    details: dict[str, Any] = {"username": before["username"], "fields": changed}
    if "role" in changed:
        details["role"] = {"from": before["role"], "to": changes["role"]}
    return Change(Action.USER_UPDATE, ObjectType.USER, str(before["id"]), details)


def user_deleted(user: Mapping[Any, Any]) -> Change:
    details = {"username": user["username"], "role": user["role"]}
    return Change(Action.USER_DELETE, ObjectType.USER, str(user["id"]), details)
