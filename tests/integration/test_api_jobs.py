"""Submitting, reading and cancelling jobs: POST /jobs/submit, GET and DELETE /jobs/{id}."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.helpers import (
    JOB_KEYS,
    RUN_KEYS,
    SCHEDULE_KEYS,
    TIME,
    assert_error,
    cancel_job,
    create_job,
    execute,
    jobs_listed,
    later,
    parse,
    runs_listed,
    sent,
    set_runs_queued,
    set_runs_running,
    submit,
    zulu,
)


def assert_job_shape(job: dict[str, Any]) -> None:
    assert set(job) == JOB_KEYS, set(job) ^ JOB_KEYS
    assert set(job["schedule"]) == SCHEDULE_KEYS, job["schedule"]
    uuid.UUID(job["id"])
    uuid.UUID(job["owner_id"])
    for key in ("created_at", "updated_at"):
        assert TIME.match(job[key]), (key, job[key])
    if job["next_run_at"] is not None:
        assert TIME.match(job["next_run_at"]), job["next_run_at"]
    assert TIME.match(job["schedule"]["run_at"]), job["schedule"]
    if job["schedule"]["end_at"] is not None:
        assert TIME.match(job["schedule"]["end_at"])


# --- submit ---------------------------------------------------------------------------------


def test_submit_minimal_job_runs_now_with_every_default(client, user):
    before = datetime.now(UTC)
    result = submit(client, user)
    after = datetime.now(UTC)

    assert result.status_code == 201, result.text
    job = result.json
    assert_job_shape(job)
    assert job["owner_id"] == user.id
    assert job["name"] == "noop"
    assert job["type"] == "noop"
    assert job["payload"] == {}
    assert job["queue"] == "default"
    assert job["priority"] == 0
    assert job["recurring"] is False
    assert job["status"] == "scheduled"
    assert job["last_run"] is None
    assert job["run_count"] == 0
    assert job["max_attempts"] == 1
    assert job["retry_backoff_seconds"] == 30
    assert job["timeout_seconds"] == 3600
    assert job["misfire_policy"] == "run_once"
    assert job["overlap_policy"] == "forbid"
    assert job["schedule"] == {
        "run_at": job["schedule"]["run_at"],
        "repeat": None,
        "interval_seconds": None,
        "cron": None,
        "timezone": "UTC",
        "end_at": None,
        "max_runs": None,
    }
    slack = timedelta(seconds=2)
    next_run = parse(job["next_run_at"])
    assert before - slack <= next_run <= after + slack
    assert before - slack <= parse(job["schedule"]["run_at"]) <= after + slack
    assert before - slack <= parse(job["created_at"]) <= after + slack


def test_submit_full_body_echoes_every_field(client, user):
    run_at = later(days=3)
    end_at = later(days=60)
    body = {
        "name": "weekly-report",
        "type": "http",
        "payload": {
            "url": "https://reports.internal/run",
            "method": "POST",
            "json": {"week": "current"},
        },
        "queue": "other",
        "priority": 7,
        "schedule": {
            "run_at": sent(run_at),
            "repeat": "weekly",
            "timezone": "Europe/Berlin",
            "end_at": sent(end_at),
            "max_runs": 5,
        },
        "max_attempts": 4,
        "retry_backoff_seconds": 45,
        "timeout_seconds": 120,
        "misfire_policy": "skip",
        "overlap_policy": "allow",
    }
    result = submit(client, user, **body)

    assert result.status_code == 201, result.text
    job = result.json
    assert_job_shape(job)
    assert job["name"] == "weekly-report"
    assert job["type"] == "http"
    assert job["payload"]["url"] == "https://reports.internal/run"
    assert job["payload"]["method"] == "POST"
    assert job["payload"]["json"] == {"week": "current"}
    assert job["queue"] == "other"
    assert job["priority"] == 7
    assert job["schedule"] == {
        "run_at": zulu(run_at),
        "repeat": "weekly",
        "interval_seconds": None,
        "cron": None,
        "timezone": "Europe/Berlin",
        "end_at": zulu(end_at),
        "max_runs": 5,
    }
    assert job["recurring"] is True
    assert job["status"] == "scheduled"
    assert job["next_run_at"] == zulu(run_at)
    assert job["max_attempts"] == 4
    assert job["retry_backoff_seconds"] == 45
    assert job["timeout_seconds"] == 120
    assert job["misfire_policy"] == "skip"
    assert job["overlap_policy"] == "allow"


def test_submit_time_with_offset_is_answered_in_utc_with_milliseconds(client, user):
    job = create_job(client, user, schedule={"run_at": "2027-06-01T09:00:00+02:00"})
    assert job["schedule"]["run_at"] == "2027-06-01T07:00:00.000Z"
    assert job["next_run_at"] == "2027-06-01T07:00:00.000Z"
    assert job["recurring"] is False


def test_submit_fractional_seconds_are_answered_to_the_millisecond(client, user):
    job = create_job(client, user, schedule={"run_at": "2027-06-01T09:00:00.123456Z"})
    assert job["schedule"]["run_at"] == "2027-06-01T09:00:00.123Z"


@pytest.mark.parametrize(
    ("schedule", "field", "value"),
    [
        ({"interval_seconds": 90}, "interval_seconds", 90),
        ({"cron": "*/5 * * * *", "timezone": "Europe/Paris"}, "cron", "*/5 * * * *"),
        ({"repeat": "hourly"}, "repeat", "hourly"),
        ({"repeat": "monthly"}, "repeat", "monthly"),
    ],
)
def test_submit_recurring_schedules_are_recurring(client, user, schedule, field, value):
    job = create_job(client, user, schedule=schedule)
    assert job["recurring"] is True
    assert job["schedule"][field] == value
    assert job["status"] == "scheduled"
    assert job["next_run_at"] is not None


@pytest.mark.parametrize(
    ("job_type", "payload"),
    [
        ("http", {"url": "http://example.test/hook"}),
        ("email", {"to": ["ops@example.test"], "subject": "hi", "body": "hello"}),
        ("sleep", {"seconds": 5}),
        ("noop", {}),
        ("fail", {"message": "on purpose"}),
    ],
)
def test_submit_each_builtin_type(client, user, job_type, payload):
    job = create_job(client, user, type=job_type, payload=payload)
    assert job["type"] == job_type
    assert job["name"] == job_type
    for key, value in payload.items():
        assert job["payload"][key] == value


def test_submit_accepts_json_content_type_with_charset(client, user):
    result = client.simulate_post(
        "/jobs/submit",
        body=b'{"type": "noop", "name": "charset"}',
        headers={**user.headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert result.status_code == 201, result.text
    assert result.json["name"] == "charset"


def test_shell_job_is_forbidden_for_a_user(client, user):
    result = submit(client, user, type="shell", payload={"argv": ["true"]})
    assert_error(result, 403)
    assert jobs_listed(client, user, type="shell") == []


def test_shell_job_is_allowed_for_an_admin(client, admin):
    result = submit(client, admin, type="shell", payload={"argv": ["echo", "hi"]})
    assert result.status_code == 201, result.text
    assert result.json["type"] == "shell"
    assert result.json["payload"]["argv"] == ["echo", "hi"]


# --- idempotency ------------------------------------------------------------------------------


def test_idempotency_key_repeat_returns_the_same_job_with_200(client, user):
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = {"name": "idem", "schedule": {"run_at": sent(later(hours=2))}}
    first = submit(client, user, headers=key, **body)
    second = submit(client, user, headers=key, **body)

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.json["id"] == first.json["id"]
    assert_job_shape(second.json)
    assert [job["id"] for job in jobs_listed(client, user, name="idem")] == [first.json["id"]]


def test_idempotency_key_with_a_different_body_is_a_conflict(client, user):
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = submit(client, user, headers=key, name="first")
    second = submit(client, user, headers=key, name="second")

    assert first.status_code == 201, first.text
    assert_error(second, 409)
    assert jobs_listed(client, user, name="second") == []


def test_idempotency_key_is_per_user(client, user, other_user):
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    mine = submit(client, user, headers=key, name="shared-key")
    theirs = submit(client, other_user, headers=key, name="shared-key")

    assert mine.status_code == 201, mine.text
    assert theirs.status_code == 201, theirs.text
    assert theirs.json["id"] != mine.json["id"]
    assert theirs.json["owner_id"] == other_user.id


def test_without_idempotency_key_each_submit_creates_a_job(client, user):
    first = create_job(client, user, name="twice")
    second = create_job(client, user, name="twice")
    assert first["id"] != second["id"]


# --- read -----------------------------------------------------------------------------------


def test_get_job_returns_the_submitted_job(client, user):
    created = create_job(client, user, name="readable", priority=3)
    result = client.simulate_get(f"/jobs/{created['id']}", headers=user.headers)

    assert result.status_code == 200, result.text
    assert_job_shape(result.json)
    assert result.json["id"] == created["id"]
    assert result.json["name"] == "readable"
    assert result.json["priority"] == 3
    assert result.json["next_run_at"] == created["next_run_at"]
    assert result.json["schedule"] == created["schedule"]


def test_get_another_users_job_is_not_found(client, user, other_user):
    created = create_job(client, user)
    result = client.simulate_get(f"/jobs/{created['id']}", headers=other_user.headers)
    assert_error(result, 404)


def test_admin_can_get_any_job(client, user, admin):
    created = create_job(client, user)
    result = client.simulate_get(f"/jobs/{created['id']}", headers=admin.headers)
    assert result.status_code == 200, result.text
    assert result.json["owner_id"] == user.id


@pytest.mark.parametrize("job_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
def test_get_malformed_job_id_is_not_found(client, user, job_id):
    assert_error(client.simulate_get(f"/jobs/{job_id}", headers=user.headers), 404)


def test_get_unknown_job_is_not_found(client, user):
    assert_error(client.simulate_get(f"/jobs/{uuid.uuid4()}", headers=user.headers), 404)


def test_last_run_is_a_run_once_a_run_has_finished(client, user, engine):
    job = create_job(client, user)
    execute(
        engine,
        "UPDATE runs SET state = 'failed', queued_at = now(), started_at = now(), "
        "heartbeat_at = now(), finished_at = now(), worker = 'host:1', "
        "error = CAST(:error AS jsonb) WHERE job_id = :job",
        job=job["id"],
        error='{"kind": "exception", "message": "boom"}',
    )
    result = client.simulate_get(f"/jobs/{job['id']}", headers=user.headers)

    assert result.status_code == 200, result.text
    last = result.json["last_run"]
    assert set(last) == RUN_KEYS
    assert last["job_id"] == job["id"]
    assert last["state"] == "failed"
    assert last["attempt"] == 1
    assert last["worker"] == "host:1"
    assert last["error"] == {"kind": "exception", "message": "boom"}
    for key in ("scheduled_for", "queued_at", "started_at", "finished_at"):
        assert TIME.match(last[key]), (key, last[key])


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_job_cancels_it_and_its_pending_run(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    result = client.simulate_delete(f"/jobs/{job['id']}", headers=user.headers)

    assert result.status_code == 200, result.text
    assert_job_shape(result.json)
    assert result.json["id"] == job["id"]
    assert result.json["status"] == "cancelled"
    assert result.json["next_run_at"] is None
    runs = runs_listed(client, user, job["id"])
    assert [run["state"] for run in runs] == ["cancelled"]
    assert TIME.match(runs[0]["finished_at"])
    fetched = client.simulate_get(f"/jobs/{job['id']}", headers=user.headers).json
    assert fetched["status"] == "cancelled"


def test_cancel_is_idempotent(client, user):
    job = create_job(client, user)
    first = client.simulate_delete(f"/jobs/{job['id']}", headers=user.headers)
    second = client.simulate_delete(f"/jobs/{job['id']}", headers=user.headers)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.json["status"] == "cancelled"
    assert len(runs_listed(client, user, job["id"])) == 1


def test_cancel_recurring_job(client, user):
    job = create_job(client, user, schedule={"cron": "0 * * * *"})
    assert cancel_job(client, user, job["id"])["status"] == "cancelled"
    assert all(run["state"] == "cancelled" for run in runs_listed(client, user, job["id"]))


def test_cancel_paused_job(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    assert client.simulate_post(f"/jobs/{job['id']}/pause", headers=user.headers).status_code == 200
    assert cancel_job(client, user, job["id"])["status"] == "cancelled"
    assert [run["state"] for run in runs_listed(client, user, job["id"])] == ["cancelled"]


def test_cancel_job_with_a_queued_run_cancels_the_run(client, user, engine):
    job = create_job(client, user)
    set_runs_queued(engine, job["id"])
    assert cancel_job(client, user, job["id"])["status"] == "cancelled"
    assert [run["state"] for run in runs_listed(client, user, job["id"])] == ["cancelled"]


def test_cancel_job_with_a_running_run(client, user, engine):
    job = create_job(client, user)
    set_runs_running(engine, job["id"])
    assert cancel_job(client, user, job["id"])["status"] == "cancelled"


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_cancel_finished_job_is_a_conflict(client, user, engine, status):
    job = create_job(client, user)
    execute(
        engine, "UPDATE jobs SET status = :status WHERE id = :job", status=status, job=job["id"]
    )
    result = client.simulate_delete(f"/jobs/{job['id']}", headers=user.headers)

    assert_error(result, 409)
    fetched = client.simulate_get(f"/jobs/{job['id']}", headers=user.headers).json
    assert fetched["status"] == status


def test_cancel_another_users_job_is_not_found(client, user, other_user):
    job = create_job(client, user)
    result = client.simulate_delete(f"/jobs/{job['id']}", headers=other_user.headers)

    assert_error(result, 404)
    fetched = client.simulate_get(f"/jobs/{job['id']}", headers=user.headers).json
    assert fetched["status"] == "scheduled"


def test_admin_can_cancel_any_job(client, user, admin):
    job = create_job(client, user)
    assert cancel_job(client, admin, job["id"])["status"] == "cancelled"


def test_cancel_malformed_and_unknown_ids_are_not_found(client, user):
    assert_error(client.simulate_delete("/jobs/nope", headers=user.headers), 404)
    assert_error(client.simulate_delete(f"/jobs/{uuid.uuid4()}", headers=user.headers), 404)


def test_concurrent_submits_with_one_idempotency_key_create_one_job(client, user):
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    body = {"name": "race", "schedule": {"run_at": sent(later(hours=1))}}

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: submit(client, user, headers=key, **body), range(6)))

    statuses = sorted(result.status_code for result in results)
    assert statuses == [200] * 5 + [201], [result.text for result in results]
    assert len({result.json["id"] for result in results}) == 1
    assert len(jobs_listed(client, user, name="race")) == 1


def test_idempotent_repeat_after_cancel_returns_the_cancelled_job(client, user):
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = submit(client, user, headers=key, name="idem-cancel")
    assert first.status_code == 201, first.text
    client.simulate_delete(f"/jobs/{first.json['id']}", headers=user.headers)

    again = submit(client, user, headers=key, name="idem-cancel")
    assert again.status_code == 200, again.text
    assert again.json["id"] == first.json["id"]
    assert again.json["status"] == "cancelled"


@pytest.mark.parametrize("key", ["", "k" * 10_000])
def test_odd_idempotency_keys_never_fail_the_server(client, user, key):
    result = submit(client, user, headers={"Idempotency-Key": key})
    assert result.status_code in {201, 400}, result.text
    if result.status_code == 400:
        assert_error(result, 400, "Idempotency-Key")


def test_job_responses_are_json(client, user):
    result = submit(client, user)
    assert result.headers["Content-Type"].startswith("application/json")


def test_delete_of_a_user_with_a_running_run_removes_their_jobs(client, make_user, engine):
    account = make_user()
    job = create_job(client, account)
    set_runs_running(engine, job["id"], job_too=False)
    result = client.simulate_delete(f"/users/{account.id}/delete", headers=account.headers)
    assert result.status_code == 204, result.text
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM jobs WHERE id = :job"), {"job": job["id"]})
        assert left.scalar_one() == 0
