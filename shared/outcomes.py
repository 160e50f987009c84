"""Recording how a run ended, in one transaction: its final state, a retry when a failed
attempt has attempts left, and the job's status. Used by the worker when a handler
returns, and by the rescuer when a worker died."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from shared.repository import Row
from shared.repository import claim as claim_repo
from shared.repository import dispatch as dispatch_repo
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.repository.dispatch import Outcome
from shared.retry import retry_delay
from shared.states import ErrorKind, JobStatus, RunOrigin, RunState

RETRIED_STATES = frozenset({RunState.FAILED, RunState.LOST})
# An attempt whose process died. One such attempt may be bad luck (a node lost, the OOM
# killer picking a neighbour); two in a row are a poison job: the occurrence fails for
# good however many attempts remain, so a crashing handler is not restarted 100 times.
CRASH_KINDS = frozenset({ErrorKind.CRASHED, ErrorKind.LOST})


def crash_kind(run: Row) -> bool:
    error = run.get("error")
    return isinstance(error, dict) and error.get("kind") in CRASH_KINDS


def retry_for(run: Row, now: datetime, rng: random.Random | None = None) -> dict[str, Any] | None:
    """The pending retry of a failed or lost attempt, or None when none is due: attempts
    are used up, or the user cancelled the job (or asked this run to stop)."""
    if run["state"] not in RETRIED_STATES or run["attempt"] >= run["max_attempts"]:
        return None
    if run["job_status"] == JobStatus.CANCELLED or run["cancel_requested_at"] is not None:
        return None
    due_at: datetime | None = now + retry_delay(run["retry_backoff_seconds"], run["attempt"], rng)
    if run["job_status"] == JobStatus.PAUSED:
        due_at = None  # a paused job holds its retries too; resume releases them
    return run_repo.run_params(
        run["job_id"],
        run["scheduled_for"],
        priority=run["priority"],
        now=now,
        due_at=due_at,
        attempt=run["attempt"] + 1,
        origin=RunOrigin.RETRY,
    )


def schedule_retries(conn: Connection, finished: Sequence[Row], now: datetime) -> None:
    repeated = dispatch_repo.crashed_attempts(
        conn,
        [
            (run["job_id"], run["scheduled_for"], run["attempt"] - 1)
            for run in finished
            if run["attempt"] > 1 and crash_kind(run)
        ],
    )
    retries = [
        params
        for run in finished
        if not (
            crash_kind(run)
            and (run["job_id"], run["scheduled_for"], run["attempt"] - 1) in repeated
        )
        and (params := retry_for(run, now)) is not None
    ]
    dispatch_repo.insert_next_occurrences(conn, retries)
    job_repo.refresh_status(conn, sorted({run["job_id"] for run in finished}), now)


def record_outcomes(
    conn: Connection, outcomes: Sequence[Outcome], now: datetime, *, announce: bool = True
) -> list[Row]:
    """running → final for a batch of runs, their retries and their jobs' statuses. Runs
    that were no longer running (rescued or deleted) are missing from the answer.

    ``announce=False`` sends no NOTIFY for the slots freed: the caller decides (a worker
    that takes the slot itself wakes no scheduler for it)."""
    finished = dispatch_repo.finish_runs(conn, outcomes, now)
    if finished:
        schedule_retries(conn, finished, now)
        if announce:
            # Only limited queues' ends are told: most batches then send no statement.
            limited = {run["queue"] for run in finished if run["queue_limited"]}
            claim_repo.announce_free_slots(conn, sorted(limited))
    return finished


def record_outcome(
    conn: Connection,
    run_id: uuid.UUID,
    state: RunState,
    now: datetime,
    *,
    result: Any = None,
    error: Any = None,
) -> Row | None:
    """running → ``state``; None if the run was no longer running (rescued or deleted)."""
    finished = record_outcomes(conn, [Outcome(run_id, state, result, error)], now)
    return finished[0] if finished else None
