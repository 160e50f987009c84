"""Responses are built from rows without validation; what that builds must be what
pydantic's own ``model_construct`` builds, whatever pydantic version is installed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from api import serialize
from shared.lifecycle import JobView
from shared.schemas import jobs as schemas

NOW = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
JOB_ROW = {
    "id": uuid.uuid4(),
    "owner_id": uuid.uuid4(),
    "name": "report",
    "type": "http",
    "payload": {"url": "https://example.com", "headers": {"X-A": "1"}},
    "queue": "default",
    "priority": 3,
    "run_at": NOW,
    "repeat": None,
    "interval_seconds": 60,
    "cron": None,
    "timezone": "Europe/Berlin",
    "end_at": None,
    "max_runs": 5,
    "status": "scheduled",
    "run_count": 2,
    "max_attempts": 3,
    "retry_backoff_seconds": 30,
    "timeout_seconds": 300,
    "misfire_policy": "skip",
    "overlap_policy": "allow",
    "created_at": NOW,
    "updated_at": NOW,
}
RUN_ROW = {
    "id": uuid.uuid4(),
    "job_id": JOB_ROW["id"],
    "attempt": 2,
    "scheduled_for": NOW,
    "state": "failed",
    "queued_at": NOW,
    "started_at": NOW,
    "finished_at": None,
    "worker": "host:1",
    "result": {"status_code": 500},
    "error": {"kind": "http_status", "message": "500"},
}


def test_built_makes_what_model_construct_makes() -> None:
    view = JobView(JOB_ROW, NOW, RUN_ROW)
    job = serialize.job(view)
    values = {name: getattr(job, name) for name in schemas.Job.model_fields}
    assert job.model_dump_json() == schemas.Job.model_construct(**values).model_dump_json()
    assert job.model_fields_set == set(schemas.Job.model_fields)


def test_a_job_serialises_as_the_contract_says() -> None:
    body = json.loads(serialize.job(JobView(JOB_ROW, None, RUN_ROW)).model_dump_json())
    assert body["id"] == str(JOB_ROW["id"])
    assert body["created_at"] == "2026-11-28T10:00:00.123Z"
    assert body["schedule"] == {
        "run_at": "2026-11-28T10:00:00.123Z",
        "repeat": None,
        "interval_seconds": 60,
        "cron": None,
        "timezone": "Europe/Berlin",
        "end_at": None,
        "max_runs": 5,
    }
    assert body["recurring"] is True
    assert body["next_run_at"] is None
    assert body["last_run"]["error"] == {"kind": "http_status", "message": "500"}
    assert body["last_run"]["finished_at"] is None
    assert set(body) == set(schemas.Job.model_fields)
