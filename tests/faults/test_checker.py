"""The invariant checker itself: it passes clean histories and reports broken ones.

Rows are inserted into the package's database inside a transaction that is rolled back,
so the running scheduler never sees them. The unique index on (job, scheduled_for,
attempt) would refuse a duplicate attempt, so that test drops it inside the same
transaction (DDL is transactional in PostgreSQL) to show that the checker would notice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from tests.faults.invariants import assert_invariants, check_invariants

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def scratch(faults_engine: Engine) -> Iterator[Connection]:
    with faults_engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        try:
            yield conn
        finally:
            transaction.rollback()


class Rows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.owner = uuid.uuid4()
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) "
                "VALUES (:id, :name, 'x', 'user', :t, :t)"
            ),
            {"id": self.owner, "name": f"scratch{self.owner.hex[:12]}", "t": T0},
        )

    def job(self, status: str, *, run_count: int = 1, max_attempts: int = 2, **extra: Any) -> Any:
        job_id = uuid.uuid4()
        params = {
            "id": job_id,
            "owner": self.owner,
            "status": status,
            "run_count": run_count,
            "max_attempts": max_attempts,
            "interval": extra.get("interval_seconds"),
            "max_runs": extra.get("max_runs"),
            "t": T0,
        }
        self.conn.execute(
            text(
                "INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at, "
                "interval_seconds, timezone, max_runs, status, run_count, max_attempts, "
                "retry_backoff_seconds, timeout_seconds, misfire_policy, overlap_policy, "
                "created_at, updated_at) VALUES (:id, :owner, 'scratch', 'noop', '{}', "
                "'default', 0, :t, :interval, 'UTC', :max_runs, :status, :run_count, "
                ":max_attempts, 1, 60, 'run_once', 'forbid', :t, :t)"
            ),
            params,
        )
        return job_id

    def run(
        self,
        job_id: Any,
        state: str,
        *,
        attempt: int = 1,
        scheduled_for: datetime = T0,
        started: bool | None = None,
    ) -> Any:
        run_id = uuid.uuid4()
        started = (
            state in {"running", "succeeded", "failed", "lost"} if started is None else started
        )
        queued = state not in {"pending", "skipped"}
        finished = state in {"succeeded", "failed", "lost", "cancelled", "skipped"}
        offset = timedelta(seconds=10 * attempt)
        self.conn.execute(
            text(
                "INSERT INTO runs (id, job_id, attempt, origin, priority, scheduled_for, due_at, "
                "state, queued_at, published_at, started_at, heartbeat_at, finished_at, worker, "
                "created_at) VALUES (:id, :job, :attempt, :origin, 0, :sf, :due, :state, "
                ":queued, :queued, :started, :started, :finished, :worker, :created)"
            ),
            {
                "id": run_id,
                "job": job_id,
                "attempt": attempt,
                "origin": "schedule" if attempt == 1 else "retry",
                "sf": scheduled_for,
                "due": scheduled_for + offset,
                "state": state,
                "queued": scheduled_for + offset if queued else None,
                "started": scheduled_for + offset + timedelta(seconds=1) if started else None,
                "finished": scheduled_for + offset + timedelta(seconds=2) if finished else None,
                "worker": "scratch:1" if started else None,
                "created": scheduled_for + offset,
            },
        )
        return run_id


def test_a_clean_history_passes(scratch: Connection) -> None:
    rows = Rows(scratch)
    simple = rows.job("succeeded")
    rows.run(simple, "succeeded")
    retried = rows.job("succeeded")
    rows.run(retried, "lost", attempt=1)
    rows.run(retried, "succeeded", attempt=2)
    failed = rows.job("failed")
    rows.run(failed, "failed", attempt=1)
    rows.run(failed, "failed", attempt=2)
    report = assert_invariants(scratch, [simple, retried, failed])
    assert report.counts() == {
        "jobs": 3,
        "runs": 5,
        "occurrences": 3,
        "started": 5,
        "succeeded": 2,
        "failed": 2,
        "lost": 1,
        "retried": 2,
        "duplicates": 0,
        "stuck": 0,
        "status_mismatches": 0,
    }


def test_a_duplicate_attempt_is_reported(scratch: Connection) -> None:
    scratch.execute(text("DROP INDEX uq_runs_occurrence_attempt"))
    rows = Rows(scratch)
    job = rows.job("succeeded")
    rows.run(job, "succeeded")
    rows.run(job, "succeeded")
    report = check_invariants(scratch, [job])
    assert report.duplicates == 1
    assert any(v.startswith("duplicate:") for v in report.violations), report.violations
    assert any(v.startswith("succeeded twice:") for v in report.violations), report.violations
    with pytest.raises(AssertionError, match="duplicate"):
        assert_invariants(scratch, [job])


def test_stuck_runs_are_reported(scratch: Connection) -> None:
    rows = Rows(scratch)
    running = rows.job("running")
    rows.run(running, "running")
    queued = rows.job("queued")
    rows.run(queued, "queued")
    report = check_invariants(scratch, [running, queued])
    assert report.stuck == 2
    assert sum(v.startswith("stuck:") for v in report.violations) == 2, report.violations


def test_an_overdue_pending_run_is_stuck_unless_paused(scratch: Connection) -> None:
    rows = Rows(scratch)
    past = datetime.now(UTC) - timedelta(minutes=5)
    overdue = rows.job("scheduled", run_count=0)
    rows.run(overdue, "pending", scheduled_for=past)
    paused = rows.job("paused", run_count=0)
    rows.run(paused, "pending", scheduled_for=past)
    report = check_invariants(scratch, [overdue, paused])
    assert report.stuck == 1, report.violations
    assert str(overdue) in report.violations[0]


def test_broken_retry_chains_are_reported(scratch: Connection) -> None:
    rows = Rows(scratch)
    gap = rows.job("succeeded")
    rows.run(gap, "failed", attempt=1)
    rows.run(gap, "succeeded", attempt=3)
    after_success = rows.job("succeeded")
    rows.run(after_success, "succeeded", attempt=1)
    rows.run(after_success, "succeeded", attempt=2)
    no_retry = rows.job("failed", max_attempts=3)
    rows.run(no_retry, "lost", attempt=1)
    report = check_invariants(scratch, [gap, after_success, no_retry])
    kinds = {violation.split(":", 1)[0] for violation in report.violations}
    assert {"attempts", "retried without cause", "succeeded twice", "no retry"} <= kinds, (
        report.violations
    )


def test_status_and_run_count_mismatches_are_reported(scratch: Connection) -> None:
    rows = Rows(scratch)
    wrong_status = rows.job("failed")
    rows.run(wrong_status, "succeeded")
    wrong_count = rows.job("succeeded", run_count=2)
    rows.run(wrong_count, "succeeded")
    recurring = rows.job("succeeded", interval_seconds=60, max_runs=5)
    rows.run(recurring, "succeeded")
    report = check_invariants(scratch, [wrong_status, wrong_count, recurring])
    assert report.status_mismatches == 3, report.violations
    kinds = {violation.split(":", 1)[0] for violation in report.violations}
    assert kinds == {"status", "run_count", "schedule"}, report.violations


def test_a_run_without_start_time_is_reported(scratch: Connection) -> None:
    rows = Rows(scratch)
    job = rows.job("succeeded")
    run = rows.run(job, "succeeded")
    scratch.execute(
        text("UPDATE runs SET started_at = finished_at + interval '1 second' WHERE id = :id"),
        {"id": run},
    )
    report = check_invariants(scratch, [job])
    assert any(v.startswith("times:") for v in report.violations), report.violations
