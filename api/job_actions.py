"""The actions on one job, as both the JSON API and the dashboard take them: the same
checks, the same transaction, the same audit row. A resource validates its input in its
own format (JSON, or a form), calls one of these, and presents the answer.

The caller has already checked that the job is the user's (or that the user is an
admin): :func:`api.resources.jobs.require_owned_job`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

import falcon
from sqlalchemy import Connection

from api.resources.base import Resource, current_user
from shared import audit, lifecycle, limits
from shared.errors import NotFound
from shared.lifecycle import JobView
from shared.repository import Row
from shared.repository import jobs as job_repo
from shared.validation import parse_schedule


class StatusChange(StrEnum):
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"


Change = Callable[[Connection, uuid.UUID, datetime], Row | None]
CHANGES: dict[StatusChange, tuple[Change, audit.Action]] = {
    StatusChange.CANCEL: (lifecycle.cancel, audit.Action.JOB_CANCEL),
    StatusChange.PAUSE: (lifecycle.pause, audit.Action.JOB_PAUSE),
    StatusChange.RESUME: (lifecycle.resume, audit.Action.JOB_RESUME),
}


def change_status(
    resource: Resource, req: falcon.Request, job_id: uuid.UUID, change: StatusChange
) -> JobView:
    """Cancel, pause or resume, audited unless it changed nothing (already so)."""
    apply, action = CHANGES[change]
    now = resource.clock.now()
    with resource.transaction(req) as conn:
        before = apply(conn, job_id, now)
        view = lifecycle.view(conn, job_id)
        if before is not None:
            to = view.job["status"]
            resource.audit(conn, req, audit.job_status_changed(action, before, to), at=now)
    return view


def reschedule(
    resource: Resource, req: falcon.Request, job_id: uuid.UUID, body: dict[str, Any]
) -> JobView:
    """Replace the job's schedule with the one ``body`` describes (API.md's reschedule
    body: a schedule object, or ``{"run_at": ...}`` to move a recurring job's anchor)."""
    now = resource.clock.now()
    with resource.transaction(req) as conn:
        job = job_repo.get_job(conn, job_id)
    if job is None:
        raise NotFound("job_id: no such job")
    schedule, first_due = parse_schedule(lifecycle.reschedule_body(job, body), now, prefix="")
    quota = resource.quota(current_user(req))
    if quota is not None:
        limits.check_schedule(schedule, quota.limits, now, prefix="")
    with resource.transaction(req) as conn:
        before = lifecycle.reschedule(conn, job_id, schedule, first_due, now, quota=quota)
        view = lifecycle.view(conn, job_id)
        resource.audit(conn, req, audit.job_rescheduled(before, view.job), at=now)
    return view


def trigger(resource: Resource, req: falcon.Request, job_id: uuid.UUID) -> Row:
    """One extra run now; the run is returned."""
    now = resource.clock.now()
    with resource.transaction(req) as conn:
        run = lifecycle.trigger(conn, job_id, now, quota=resource.quota(current_user(req)))
        resource.audit(conn, req, audit.job_triggered(job_id, run), at=now)
    return run
