"""Helpers shared by the API integration tests: times, request shortcuts and response checks."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

# Every time Chronos answers is UTC with milliseconds: 2027-06-01T07:00:00.000Z.
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
JOB_KEYS = {
    "id",
    "owner_id",
    "name",
    "type",
    "payload",
    "queue",
    "priority",
    "schedule",
    "recurring",
    "status",
    "next_run_at",
    "last_run",
    "run_count",
    "max_attempts",
    "retry_backoff_seconds",
    "timeout_seconds",
    "misfire_policy",
    "overlap_policy",
    "created_at",
    "updated_at",
}
SCHEDULE_KEYS = {"run_at", "repeat", "interval_seconds", "cron", "timezone", "end_at", "max_runs"}
RUN_KEYS = {
    "id",
    "job_id",
    "attempt",
    "scheduled_for",
    "state",
    "queued_at",
    "started_at",
    "finished_at",
    "worker",
    "result",
    "error",
}


# --- times --------------------------------------------------------------------------------------


def zulu(moment: datetime) -> str:
    """A whole-second UTC time as Chronos answers it (with `.000` milliseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sent(moment: datetime) -> str:
    """A time as a client sends it: UTC, whole seconds, no fraction."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    """Read a `...Z` time from a response back into an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def later(**delta: float) -> datetime:
    """Now plus a `timedelta(**delta)`, cut to whole seconds."""
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def unique(prefix: str = "job") -> str:
    """A name no other test uses, so listings by name see only this test's jobs."""
    return f"{prefix}-{uuid.uuid4().hex}"


# --- requests -----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a raw token."""
    return {"Authorization": f"Bearer {token}"}


def submit(client: Any, account: Any, headers: dict[str, str] | None = None, **body: Any) -> Any:
    """POST /jobs/submit as `account`; the body is a noop job unless `body` says otherwise."""
    payload = {"type": "noop", **body}
    return client.simulate_post(
        "/jobs/submit", json=payload, headers={**account.headers, **(headers or {})}
    )


def create_job(client: Any, account: Any, **body: Any) -> dict[str, Any]:
    """Submit a job that must be created (201) and return it."""
    result = submit(client, account, **body)
    assert result.status_code == 201, result.text
    return result.json


def cancel_job(client: Any, account: Any, job_id: str) -> dict[str, Any]:
    """DELETE /jobs/{id} as `account`, which must succeed (200); the job as answered."""
    result = client.simulate_delete(f"/jobs/{job_id}", headers=account.headers)
    assert result.status_code == 200, result.text
    return result.json


def list_jobs(client: Any, account: Any, **params: Any) -> Any:
    """GET /jobs as `account` with the given query parameters; the raw response."""
    return client.simulate_get("/jobs", params=params, headers=account.headers)


def jobs_listed(client: Any, account: Any, **params: Any) -> list[dict[str, Any]]:
    """The items of a GET /jobs that must succeed."""
    result = list_jobs(client, account, **params)
    assert result.status_code == 200, result.text
    return result.json["items"]


def runs_of(client: Any, account: Any, job_id: str, **params: Any) -> Any:
    """GET /jobs/{id}/runs as `account`; the raw response."""
    return client.simulate_get(f"/jobs/{job_id}/runs", params=params, headers=account.headers)


def runs_listed(client: Any, account: Any, job_id: str) -> list[dict[str, Any]]:
    """The items of a GET /jobs/{id}/runs that must succeed."""
    result = runs_of(client, account, job_id)
    assert result.status_code == 200, result.text
    return result.json["items"]


# --- database -----------------------------------------------------------------------------------


def execute(engine: Any, statement: str, **params: Any) -> None:
    """Run one SQL statement in its own transaction."""
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def set_runs_queued(engine: Any, job_id: str) -> None:
    """Move a job's pending runs to `queued`, as the scheduler would."""
    execute(
        engine,
        "UPDATE runs SET state = 'queued', queued_at = now() "
        "WHERE job_id = :job AND state = 'pending'",
        job=job_id,
    )


def set_runs_running(engine: Any, job_id: str, *, job_too: bool = True) -> None:
    """Move a job's pending runs to `running` on a worker, and (with `job_too`) the job too."""
    execute(
        engine,
        "UPDATE runs SET state = 'running', queued_at = now(), started_at = now(), "
        "heartbeat_at = now(), worker = 'host:1' WHERE job_id = :job AND state = 'pending'",
        job=job_id,
    )
    if job_too:
        execute(engine, "UPDATE jobs SET status = 'running' WHERE id = :job", job=job_id)


# --- response checks ----------------------------------------------------------------------------


def assert_error(result: Any, status: int, *fields: str) -> str:
    """Check an error answer: the status, a `{title, description}` body and, if any `fields`
    are given, that the description names one of them. Returns the description."""
    assert result.status_code == status, result.text
    body = result.json
    assert set(body) == {"title", "description"}, body
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["description"], str)
    if fields:
        assert any(field in body["description"] for field in fields), (fields, body)
    return body["description"]
