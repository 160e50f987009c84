"""What users do to jobs: submit, cancel, pause, resume, reschedule and trigger.

Each operation changes the job and its runs together, in the caller's transaction, and
locks the job row first. The scheduler claims runs with ``FOR UPDATE OF runs, jobs SKIP
LOCKED``, so while an operation holds the job it cannot claim that job's runs, and an
operation that waits for the scheduler sees the runs it materialised once it commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from shared import recurrence
from shared.errors import Conflict, NotFound, ValidationError
from shared.jobs import JobSpec, schedule_of
from shared.quotas import Quota
from shared.recurrence import Schedule
from shared.repository import Row
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.states import FINAL_JOB_STATUSES, FINISHED_JOB_STATUSES, JobStatus, RunOrigin

# A run due within this horizon wakes the schedulers at once; later ones are found by
# the scheduler's own sleep-until-next-due.
NOTIFY_HORIZON = timedelta(seconds=60)


@dataclass(frozen=True)
class JobView:
    """A job with the run summary its response carries."""

    job: Row
    next_run_at: datetime | None
    last_run: Row | None


def views(conn: Connection, jobs: Sequence[Row]) -> list[JobView]:
    ids = [job["id"] for job in jobs]
    due = run_repo.next_due(conn, ids) if ids else {}
    last = run_repo.last_runs(conn, ids) if ids else {}
    return [JobView(job, due.get(job["id"]), last.get(job["id"])) for job in jobs]


def view(conn: Connection, job_id: uuid.UUID) -> JobView:
    job = job_repo.get_job(conn, job_id)
    if job is None:
        raise NotFound("job_id: no such job")
    return views(conn, [job])[0]


def _due_soon(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and due_at <= now + NOTIFY_HORIZON


def _wake_if_due_soon(conn: Connection, due_at: datetime | None, now: datetime) -> None:
    if due_at is not None and _due_soon(due_at, now):
        run_repo.notify_due(conn, due_at)


def submit(
    conn: Connection,
    spec: JobSpec,
    *,
    owner_id: uuid.UUID,
    now: datetime,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    quota: Quota | None = None,
) -> tuple[JobView, bool]:
    """Store the job and its first pending run. Returns the job and whether it is new.

    A repeated idempotency key returns the job it created before, provided the request
    is the same one (same fingerprint); another request under the key is a conflict.
    With a ``quota``, the job must fit the owner's live jobs and submits per minute; a
    repeat is not counted.
    """
    if quota is not None and idempotency_key is not None:
        quota.hold(conn)
        earlier = job_repo.find_by_idempotency_key(conn, owner_id, idempotency_key)
        if earlier is not None:
            return _repeated(conn, earlier, fingerprint), False
        quota.count_submits(conn, 1, now)
        quota.check_live(conn, 1)
    elif quota is not None:
        quota.hold_and_count(conn, 1, now)
        quota.check_live(conn, 1)
    params = job_repo.job_params(
        spec, owner_id=owner_id, now=now, idempotency_key=idempotency_key, fingerprint=fingerprint
    )
    job = job_repo.insert_job(conn, params, spec.first_due, wake=_due_soon(spec.first_due, now))
    if job is None:
        assert idempotency_key is not None
        earlier = job_repo.find_by_idempotency_key(conn, owner_id, idempotency_key)
        if earlier is None:  # its owner deleted it in between; the key is free again
            raise Conflict("Idempotency-Key: the request is being processed; retry")
        return _repeated(conn, earlier, fingerprint), False
    return JobView(job, spec.first_due, None), True


def _repeated(conn: Connection, earlier: Row, fingerprint: str | None) -> JobView:
    if earlier["request_fingerprint"] != fingerprint:
        raise Conflict("Idempotency-Key: already used for a different request")
    return view(conn, earlier["id"])


def submit_batch(
    conn: Connection,
    specs: Sequence[JobSpec],
    *,
    owner_id: uuid.UUID,
    now: datetime,
    quota: Quota | None = None,
) -> list[JobView]:
    """Store every job of a batch with its first run, in the caller's one transaction.
    With a ``quota``, all of them must fit the owner's limits, or none is stored."""
    if quota is not None:
        quota.hold_and_count(conn, len(specs), now)
        quota.check_live(conn, len(specs))
    params = [job_repo.job_params(spec, owner_id=owner_id, now=now) for spec in specs]
    jobs = job_repo.insert_jobs(conn, params, now)
    run_repo.insert_first_runs(
        conn,
        [(job["id"], spec.priority, spec.first_due) for job, spec in zip(jobs, specs, strict=True)],
        now,
    )
    _wake_if_due_soon(conn, min(spec.first_due for spec in specs), now)
    return [JobView(job, spec.first_due, None) for job, spec in zip(jobs, specs, strict=True)]


def _locked(conn: Connection, job_id: uuid.UUID) -> Row:
    job = job_repo.get_job(conn, job_id, lock=True)
    if job is None:
        raise NotFound("job_id: no such job")
    return job


def cancel(conn: Connection, job_id: uuid.UUID, now: datetime) -> Row | None:
    """Cancel the job: unstarted runs are cancelled, running ones are interrupted.
    Returns the job as it was, or None if it was cancelled already (nothing changed)."""
    job = _locked(conn, job_id)
    if job["status"] == JobStatus.CANCELLED:
        return None
    if job["status"] in FINISHED_JOB_STATUSES:
        raise Conflict(f"status: the job has already {job['status']}; nothing to cancel")
    run_repo.cancel_unstarted(conn, job_id, now, "job cancelled")
    run_repo.request_cancel_running(conn, job_id, now)
    job_repo.set_status(conn, job_id, JobStatus.CANCELLED, now)
    return job


def pause(conn: Connection, job_id: uuid.UUID, now: datetime) -> Row | None:
    """Hold the pending runs back; a run already queued or running goes on. Returns the
    job as it was, or None if it was paused already."""
    job = _locked(conn, job_id)
    if job["status"] == JobStatus.PAUSED:
        return None
    if job["status"] in FINAL_JOB_STATUSES:
        raise Conflict(f"status: the job is {job['status']}; only a live job can be paused")
    run_repo.hold_pending(conn, job_id)
    job_repo.set_status(conn, job_id, JobStatus.PAUSED, now)
    return job


def resume(conn: Connection, job_id: uuid.UUID, now: datetime) -> Row | None:
    """Release the held runs. An occurrence missed while paused is due at once, and the
    scheduler applies the job's misfire policy to it as to any late occurrence. Returns
    the job as it was, or None if it was not paused (nothing changed)."""
    job = _locked(conn, job_id)
    if job["status"] in FINAL_JOB_STATUSES:
        raise Conflict(f"status: the job is {job['status']}; only a paused job can be resumed")
    if job["status"] != JobStatus.PAUSED:
        return None
    run_repo.release_held(conn, job_id, now)
    job_repo.set_status(conn, job_id, JobStatus.SCHEDULED, now)
    job_repo.refresh_status(conn, [job_id], now)
    _wake_if_due_soon(conn, now, now)
    return job


def is_recurring(job: Row) -> bool:
    return schedule_of(job).recurring


def reschedule_body(job: Row, body: dict[str, Any]) -> dict[str, Any]:
    """The schedule a reschedule body asks for.

    A full schedule object replaces the job's schedule. The shorthand ``{"run_at": ...}``
    on a recurring job moves its anchor and keeps its cadence (repeat, interval or cron,
    time zone, end_at and max_runs); to make a recurring job one-off, send the recurrence
    fields as null.
    """
    if set(body) != {"run_at"} or not is_recurring(job):
        return body
    kept = ("repeat", "interval_seconds", "cron", "timezone", "max_runs")
    merged: dict[str, Any] = {key: job[key] for key in kept if job[key] is not None}
    if job["end_at"] is not None:
        merged["end_at"] = job["end_at"].isoformat()
    return {**merged, "run_at": body["run_at"]}


def reschedule(
    conn: Connection,
    job_id: uuid.UUID,
    schedule: Schedule,
    first_due: datetime,
    now: datetime,
    quota: Quota | None = None,
) -> Row:
    """Replace the schedule and move the next occurrence; returns the job as it was.

    A recurring job may be rescheduled while a run is live: only future occurrences
    change. A one-off job may not (409). A finished or cancelled job is scheduled again:
    with a ``quota``, only if the owner has room for one more live job.
    """
    if quota is not None:
        quota.hold(conn)
    job = _locked(conn, job_id)
    if quota is not None and job["status"] in FINAL_JOB_STATUSES:
        quota.check_live(conn, 1)
    live = run_repo.count_live(conn, job_id)
    if live and not is_recurring(job) and job["status"] != JobStatus.CANCELLED:
        raise Conflict("status: the job has a run queued or running; wait for it or cancel it")
    if schedule.max_runs is not None and job["run_count"] >= schedule.max_runs:
        raise ValidationError(
            "max_runs", f"the job has already run {job['run_count']} times; raise max_runs"
        )
    paused = job["status"] == JobStatus.PAUSED
    due_at = None if paused else first_due
    pending = run_repo.pending_runs(conn, job_id)
    occurrence = next((run for run in pending if run["origin"] == RunOrigin.SCHEDULE), None)
    superseded = [run["id"] for run in pending if run is not occurrence]
    if not schedule.recurring and superseded:
        # A one-off job has a single occurrence: its pending retries are replaced by it.
        run_repo.cancel_unstarted(conn, job_id, now, "superseded by reschedule", only=superseded)
    try:
        with conn.begin_nested():
            if occurrence is not None:
                run_repo.move_run(conn, occurrence["id"], first_due, due_at)
            else:
                params = run_repo.run_params(
                    job_id, first_due, priority=job["priority"], now=now, due_at=due_at
                )
                run_repo.insert_runs(conn, [params])
    except IntegrityError:
        raise Conflict("run_at: the job already has a run for that occurrence") from None
    status = JobStatus.PAUSED if paused else JobStatus.SCHEDULED
    job_repo.update_schedule(conn, job_id, schedule, status, now)
    job_repo.refresh_status(conn, [job_id], now)
    _wake_if_due_soon(conn, due_at, now)
    return job


def trigger(conn: Connection, job_id: uuid.UUID, now: datetime, quota: Quota | None = None) -> Row:
    """One extra run now, outside the schedule. It does not count toward max_runs and is
    not subject to the overlap policy: the user asked for it explicitly. With a
    ``quota``, it counts as one submit, and a finished job it revives as a live one."""
    if quota is not None:
        quota.hold_and_count(conn, 1, now)
    job = _locked(conn, job_id)
    if job["status"] == JobStatus.CANCELLED:
        raise Conflict("status: the job is cancelled; reschedule it to run it again")
    if quota is not None and job["status"] in FINISHED_JOB_STATUSES:
        quota.check_live(conn, 1)
    params = run_repo.run_params(
        job_id, now, priority=job["priority"], now=now, origin=RunOrigin.MANUAL
    )
    run_repo.insert_runs(conn, [params])
    job_repo.refresh_status(conn, [job_id], now)
    _wake_if_due_soon(conn, now, now)
    run = run_repo.get_run(conn, params["id"])
    assert run is not None
    return run


def upcoming(conn: Connection, job: Row, count: int, now: datetime) -> list[datetime]:
    """The next ``count`` occurrence times, starting from the materialised pending one."""
    if job["status"] in FINAL_JOB_STATUSES:
        return []
    pending = [
        run
        for run in run_repo.pending_occurrences(conn, job["id"])
        if run["origin"] == RunOrigin.SCHEDULE
    ]
    if not pending:
        return []
    first = min(run["scheduled_for"] for run in pending)
    schedule = schedule_of(job)
    after = first if job["misfire_policy"] == "run_all" else max(first, now)
    rest = recurrence.upcoming(schedule, after, count - 1, already_run=job["run_count"] + 1)
    return [first, *rest][:count]
