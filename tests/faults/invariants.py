"""The invariants that must hold in the database after any run of Chronos, faults or not.

:func:`check_invariants` reads the ``jobs`` and ``runs`` tables (plain SQL, one consistent
snapshot) and checks them in Python, so a failing test says what is wrong with which run:

(a) Occurrences. For each job and each ``scheduled_for`` of origin ``schedule``/``retry``,
    attempts 1..k exist exactly once each (no duplicate ``(job, scheduled_for,
    attempt)``), attempt 1 comes from the schedule and the others are retries, at most
    one attempt succeeded, every attempt but the last ended ``failed`` or ``lost``, the
    last one is final (or a pending retry or occurrence not yet due), a failed or lost
    last attempt with attempts left has its retry, and no more than ``max_attempts``
    attempts exist.
(b) Nothing stuck once the system has settled: no run ``queued`` or ``running``, and no
    ``pending`` run due more than a few seconds ago (a paused job's held runs excepted).
(c) Times: every ``succeeded``/``failed``/``lost`` run was queued, started and finished,
    in that order.
(d) Job status agrees with the runs: a one-off job has its final attempt's outcome, a
    recurring job is ``scheduled`` while it has a next occurrence and ``succeeded`` once
    it has none; ``run_count`` is the number of schedule occurrences dispatched.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "skipped", "lost"})
STARTED_OUTCOMES = frozenset({"succeeded", "failed", "lost"})
RETRIED = frozenset({"failed", "lost"})
CRASHED = frozenset({"crashed", "lost"})
LIVE = frozenset({"queued", "running"})
USER_HELD = frozenset({"paused", "cancelled"})
OUTCOME_STATUS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "lost": "failed",
    "cancelled": "cancelled",
    "skipped": "failed",
}

# A pending run due longer ago than this is stuck: the scheduler should have claimed it.
PENDING_GRACE = timedelta(seconds=5)
# queued_at and started_at are read from the clocks of two processes (scheduler and
# worker) just before their statements run; a re-publish can bump queued_at a moment
# after a worker read its clock to start the run. Same host, so milliseconds at most.
CLOCK_SLACK = timedelta(seconds=0.5)
MAX_LISTED = 200

JOB_QUERY = (
    "SELECT id, status, run_count, max_runs, end_at, max_attempts, "
    "(repeat IS NOT NULL OR interval_seconds IS NOT NULL OR cron IS NOT NULL) AS recurring "
    "FROM jobs"
)
RUN_QUERY = (
    "SELECT id, job_id, attempt, origin, scheduled_for, due_at, state, queued_at, "
    "published_at, started_at, finished_at, cancel_requested_at, worker, created_at, "
    "error->>'kind' AS error_kind FROM runs"
)


@dataclass
class Report:
    jobs: int = 0
    runs: int = 0
    occurrences: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    lost: int = 0
    retried: int = 0
    duplicates: int = 0
    stuck: int = 0
    status_mismatches: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        return {
            "jobs": self.jobs,
            "runs": self.runs,
            "occurrences": self.occurrences,
            "started": self.started,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "lost": self.lost,
            "retried": self.retried,
            "duplicates": self.duplicates,
            "stuck": self.stuck,
            "status_mismatches": self.status_mismatches,
        }

    def summary(self) -> str:
        counts = " ".join(f"{key}={value}" for key, value in self.counts().items())
        return f"invariants: {counts} violations={len(self.violations)}"

    def describe(self) -> str:
        lines = [self.summary()]
        lines.extend(f"  - {violation}" for violation in self.violations[:MAX_LISTED])
        if len(self.violations) > MAX_LISTED:
            lines.append(f"  ... and {len(self.violations) - MAX_LISTED} more")
        return "\n".join(lines)


def _fetch(
    conn: Connection, job_ids: Sequence[uuid.UUID | str] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], datetime]:
    params: dict[str, Any] = {}
    job_where = run_where = ""
    if job_ids is not None:
        params["ids"] = [uuid.UUID(str(job_id)) for job_id in job_ids]
        job_where = " WHERE id = ANY(:ids)"
        run_where = " WHERE job_id = ANY(:ids)"
    jobs = [dict(row) for row in conn.execute(text(JOB_QUERY + job_where), params).mappings()]
    runs = [dict(row) for row in conn.execute(text(RUN_QUERY + run_where), params).mappings()]
    now: datetime = conn.scalar(text("SELECT now()"))
    return jobs, runs, now


def check_invariants(
    engine: Engine | Connection, job_ids: Iterable[uuid.UUID | str] | None = None
) -> Report:
    """Check the invariants over ``job_ids`` (every job when None) and report.

    ``engine`` may be an open connection: a test can then check rows that it inserted in
    a transaction it never commits."""
    ids = None if job_ids is None else list(job_ids)
    if isinstance(engine, Connection):
        jobs, runs, now = _fetch(engine, ids)
    else:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                jobs, runs, now = _fetch(conn, ids)
    return evaluate(jobs, runs, now)


def assert_invariants(
    engine: Engine | Connection, job_ids: Iterable[uuid.UUID | str] | None = None
) -> Report:
    """:func:`check_invariants`, raising with every violation listed if any is found."""
    report = check_invariants(engine, job_ids)
    if not report.ok:
        raise AssertionError(report.describe())
    return report


def _short(run: dict[str, Any]) -> str:
    return (
        f"run {run['id']} (job {run['job_id']}, scheduled_for "
        f"{run['scheduled_for'].isoformat()}, attempt {run['attempt']}, {run['origin']}, "
        f"{run['state']})"
    )


def evaluate(jobs: list[dict[str, Any]], runs: list[dict[str, Any]], now: datetime) -> Report:
    """The checks themselves, on rows as read from the database."""
    report = Report(jobs=len(jobs), runs=len(runs))
    problems = report.violations
    job_by_id = {job["id"]: job for job in jobs}
    runs_of: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        runs_of[run["job_id"]].append(run)

    for run in runs:
        job = job_by_id.get(run["job_id"])
        state = run["state"]
        report.started += run["started_at"] is not None
        report.succeeded += state == "succeeded"
        report.failed += state == "failed"
        report.lost += state == "lost"
        report.retried += run["origin"] == "retry"
        # (b) nothing stuck
        if state in LIVE:
            report.stuck += 1
            problems.append(f"stuck: {_short(run)} is still {state} after the system settled")
        elif (
            state == "pending"
            and run["due_at"] is not None
            and run["due_at"] < now - PENDING_GRACE
            and (job is None or job["status"] != "paused")
        ):
            report.stuck += 1
            late = (now - run["due_at"]).total_seconds()
            problems.append(f"stuck: {_short(run)} was due {late:.1f}s ago and never claimed")
        # (c) times
        if state in STARTED_OUTCOMES:
            queued, started, finished = run["queued_at"], run["started_at"], run["finished_at"]
            if queued is None or started is None or finished is None:
                problems.append(
                    f"times: {_short(run)} lacks queued_at/started_at/finished_at "
                    f"({queued}, {started}, {finished})"
                )
            else:
                if started + CLOCK_SLACK < queued:
                    problems.append(
                        f"times: {_short(run)} started at {started.isoformat()} before it "
                        f"was queued at {queued.isoformat()}"
                    )
                if finished < started:
                    problems.append(
                        f"times: {_short(run)} finished at {finished.isoformat()} before it "
                        f"started at {started.isoformat()}"
                    )

    for job_id, job_runs in runs_of.items():
        job = job_by_id.get(job_id)
        if job is None:
            continue
        _check_occurrences(report, job, job_runs)
        _check_status(report, job, job_runs)
    for job in jobs:
        if job["id"] not in runs_of:
            _check_status(report, job, [])
    return report


def _check_occurrences(report: Report, job: dict[str, Any], job_runs: list[dict[str, Any]]) -> None:
    problems = report.violations
    occurrences: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for run in job_runs:
        if run["origin"] in ("schedule", "retry"):
            occurrences[run["scheduled_for"]].append(run)
    report.occurrences += len(occurrences)
    for scheduled_for, attempts in sorted(occurrences.items()):
        where = f"job {job['id']} occurrence {scheduled_for.isoformat()}"
        per_attempt = Counter(run["attempt"] for run in attempts)
        for attempt, count in sorted(per_attempt.items()):
            if count > 1:
                report.duplicates += count - 1
                states = sorted(run["state"] for run in attempts if run["attempt"] == attempt)
                problems.append(
                    f"duplicate: {where} has {count} runs of attempt {attempt} {states}"
                )
        numbers = sorted(per_attempt)
        last = numbers[-1]
        if numbers != list(range(1, last + 1)):
            problems.append(f"attempts: {where} has attempts {numbers}, not 1..{last}")
        if last > job["max_attempts"]:
            problems.append(
                f"attempts: {where} has {last} attempts, above max_attempts {job['max_attempts']}"
            )
        for run in attempts:
            expected_origin = "schedule" if run["attempt"] == 1 else "retry"
            if run["origin"] != expected_origin:
                problems.append(f"origin: {_short(run)} should be {expected_origin}")
        succeeded = [run for run in attempts if run["state"] == "succeeded"]
        if len(succeeded) > 1:
            problems.append(f"succeeded twice: {where} has {len(succeeded)} succeeded attempts")
        for run in attempts:
            if run["attempt"] < last and run["state"] not in RETRIED:
                problems.append(
                    f"retried without cause: {_short(run)} has a later attempt but did not "
                    "end failed or lost"
                )
        finals = [run for run in attempts if run["attempt"] == last]
        final = finals[0]
        if final["state"] not in TERMINAL and final["state"] != "pending":
            problems.append(f"unfinished: the last attempt {_short(final)} is not final")
        by_attempt = {run["attempt"]: run for run in attempts}
        before = by_attempt.get(last - 1)
        crashed_twice = (
            before is not None
            and final.get("error_kind") in CRASHED
            and before.get("error_kind") in CRASHED
        )
        if (
            final["state"] in RETRIED
            and not crashed_twice  # a poison job: two crashes in a row end the occurrence
            and last < job["max_attempts"]
            and job["status"] != "cancelled"
            and final["cancel_requested_at"] is None
        ):
            problems.append(
                f"no retry: {_short(final)} ended {final['state']} with "
                f"{job['max_attempts'] - last} attempts left, and no retry exists"
            )


def _expected_status(job: dict[str, Any], job_runs: list[dict[str, Any]]) -> str:
    states = {run["state"] for run in job_runs}
    if "running" in states:
        return "running"
    if "queued" in states:
        return "queued"
    if "pending" in states:
        return "scheduled"
    if job["recurring"]:
        return "succeeded"
    finished = [run for run in job_runs if run["finished_at"] is not None]
    if not finished:
        return "scheduled"
    scheduled = [run for run in finished if run["origin"] != "manual"]
    if scheduled and all(
        run["finished_at"] <= max(s["finished_at"] for s in scheduled)
        for run in finished
        if run["origin"] == "manual"
    ):
        # One-off: the final attempt of its latest occurrence decides.
        latest = max(run["scheduled_for"] for run in scheduled)
        final = max(
            (run for run in scheduled if run["scheduled_for"] == latest),
            key=lambda run: run["attempt"],
        )
        return OUTCOME_STATUS[final["state"]]
    last = max(finished, key=lambda run: (run["finished_at"], run["created_at"]))
    return OUTCOME_STATUS[last["state"]]


def _check_status(report: Report, job: dict[str, Any], job_runs: list[dict[str, Any]]) -> None:
    problems = report.violations
    mismatched = False
    if job["status"] not in USER_HELD:
        expected = _expected_status(job, job_runs)
        if job["status"] != expected:
            mismatched = True
            problems.append(
                f"status: job {job['id']} is {job['status']}, its runs say {expected} "
                f"({sorted(Counter(run['state'] for run in job_runs).items())})"
            )
    dispatched = sum(
        1 for run in job_runs if run["origin"] == "schedule" and run["queued_at"] is not None
    )
    if job["run_count"] != dispatched:
        mismatched = True
        problems.append(
            f"run_count: job {job['id']} has run_count {job['run_count']}, but {dispatched} "
            "occurrences were dispatched"
        )
    if (
        job["recurring"]
        and job["status"] not in USER_HELD
        and job["max_runs"] is not None
        and job["end_at"] is None
        and job["run_count"] < job["max_runs"]
        and not any(run["state"] == "pending" for run in job_runs)
    ):
        mismatched = True
        problems.append(
            f"schedule: recurring job {job['id']} ran {job['run_count']} of {job['max_runs']} "
            "times and has no next occurrence"
        )
    report.status_mismatches += mismatched


def unsettled(engine: Engine, ids: list[uuid.UUID]) -> tuple[int, int]:
    """(live runs, unfinished jobs) among these jobs: runs queued, running, or pending and
    due; jobs not yet succeeded, failed or cancelled. The system has settled when both
    are 0."""
    with engine.connect() as conn:
        live = conn.scalar(
            text(
                "SELECT count(*) FROM runs WHERE job_id = ANY(:ids) AND (state IN "
                "('queued', 'running') OR (state = 'pending' AND due_at <= now()))"
            ),
            {"ids": ids},
        )
        unfinished = conn.scalar(
            text(
                "SELECT count(*) FROM jobs WHERE id = ANY(:ids) "
                "AND status NOT IN ('succeeded', 'failed', 'cancelled')"
            ),
            {"ids": ids},
        )
    return int(live or 0), int(unfinished or 0)
