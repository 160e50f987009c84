"""POST /jobs/batch: 1 to 1000 jobs, all created or none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.helpers import JOB_KEYS, assert_error, jobs_listed, later, sent, unique


def batch(client: Any, account: Any, body: Any) -> Any:
    return client.simulate_post("/jobs/batch", json=body, headers=account.headers)


def test_batch_creates_every_job_in_order(client, user):
    name = unique("batch")
    jobs = [
        {"type": "noop", "name": name, "priority": 1},
        {"type": "sleep", "name": name, "payload": {"seconds": 2}, "priority": 2},
        {
            "type": "http",
            "name": name,
            "payload": {"url": "https://example.test"},
            "priority": 3,
            "schedule": {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
        },
    ]
    result = batch(client, user, {"jobs": jobs})

    assert result.status_code == 201, result.text
    assert set(result.json) == {"items"}
    items = result.json["items"]
    assert [job["type"] for job in items] == ["noop", "sleep", "http"]
    assert [job["priority"] for job in items] == [1, 2, 3]
    for job in items:
        assert set(job) == JOB_KEYS
        assert job["owner_id"] == user.id
        assert job["status"] == "scheduled"
        assert job["run_count"] == 0
        assert job["last_run"] is None
    assert items[2]["recurring"] is True
    assert items[2]["schedule"]["cron"] == "0 9 * * 1-5"
    assert len({job["id"] for job in items}) == 3

    listed = {job["id"] for job in jobs_listed(client, user, name=name)}
    assert listed == {job["id"] for job in items}
    for job in items:
        fetched = client.simulate_get(f"/jobs/{job['id']}", headers=user.headers)
        assert fetched.status_code == 200
        assert fetched.json["next_run_at"] == job["next_run_at"]
        runs = client.simulate_get(f"/jobs/{job['id']}/runs", headers=user.headers)
        assert [run["state"] for run in runs.json["items"]] == ["pending"]


def test_batch_of_one(client, user):
    result = batch(client, user, {"jobs": [{"type": "noop"}]})
    assert result.status_code == 201, result.text
    assert len(result.json["items"]) == 1


def test_batch_of_a_thousand(client, user):
    name = unique("batch")
    result = batch(client, user, {"jobs": [{"type": "noop", "name": name}] * 1000})
    assert result.status_code == 201, result.text
    assert len(result.json["items"]) == 1000
    assert len({job["id"] for job in result.json["items"]}) == 1000


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"type": "noop", "schedule": {"cron": "* * *"}}, "schedule.cron"),
        ({"type": "noop", "priority": 42}, "priority"),
        ({"type": "http", "payload": {"url": "ftp://example.test"}}, "payload.url"),
        ({"type": "noop", "queue": "NOT OK"}, "queue"),
        ({"type": "teleport"}, "type"),
        ({"type": "noop", "schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone"),
        ({"type": "noop", "foo": 1}, "foo"),
    ],
)
def test_one_bad_job_rejects_the_whole_batch(client, user, bad, field):
    name = unique("batch")
    good = {"type": "noop", "name": name}
    bad = {**bad, "name": name}
    result = batch(client, user, {"jobs": [good, good, bad, good]})

    description = assert_error(result, 400)
    assert description.startswith("jobs[2]."), description
    assert description.startswith(f"jobs[2].{field}"), description
    assert jobs_listed(client, user, name=name) == []


def test_batch_names_the_first_bad_index(client, user):
    name = unique("batch")
    jobs = [{"type": "noop", "name": name}] * 17 + [
        {"type": "noop", "name": name, "schedule": {"cron": "0 0 0 0 0 0"}}
    ]
    description = assert_error(batch(client, user, {"jobs": jobs}), 400)
    assert description.startswith("jobs[17].schedule.cron"), description
    assert jobs_listed(client, user, name=name) == []


def test_batch_item_that_is_not_an_object_is_rejected(client, user):
    name = unique("batch")
    result = batch(client, user, {"jobs": [{"type": "noop", "name": name}, "noop"]})
    description = assert_error(result, 400)
    assert description.startswith("jobs[1]"), description
    assert jobs_listed(client, user, name=name) == []


def test_batch_with_a_past_run_at_is_rejected(client, user):
    name = unique("batch")
    past = sent(datetime.now(UTC) - timedelta(minutes=10))
    jobs = [
        {"type": "noop", "name": name, "schedule": {"run_at": sent(later(hours=1))}},
        {"type": "noop", "name": name, "schedule": {"run_at": past}},
    ]
    description = assert_error(batch(client, user, {"jobs": jobs}), 400)
    assert description.startswith("jobs[1].schedule.run_at"), description
    assert jobs_listed(client, user, name=name) == []


@pytest.mark.parametrize(
    "body",
    [
        {"jobs": []},
        {"jobs": [{"type": "noop"}] * 1001},
        {},
        {"jobs": None},
        {"jobs": {"type": "noop"}},
        {"jobs": "noop"},
        {"jobs": [{"type": "noop"}], "extra": True},
    ],
    ids=["empty", "1001", "missing", "null", "object", "string", "unknown-field"],
)
def test_bad_batch_envelope_is_rejected(client, user, body):
    description = assert_error(batch(client, user, body), 400)
    expected = "extra" if "extra" in body else "jobs"
    assert expected in description, description


def test_too_large_batch_creates_nothing(client, user):
    name = unique("batch")
    result = batch(client, user, {"jobs": [{"type": "noop", "name": name}] * 1001})
    assert_error(result, 400)
    assert jobs_listed(client, user, name=name) == []


def test_batch_with_a_shell_job_is_forbidden_for_a_user(client, user):
    name = unique("batch")
    jobs = [
        {"type": "noop", "name": name},
        {"type": "shell", "name": name, "payload": {"argv": ["true"]}},
    ]
    assert_error(batch(client, user, {"jobs": jobs}), 403)
    assert jobs_listed(client, user, name=name) == []


def test_batch_with_a_shell_job_is_allowed_for_an_admin(client, admin):
    jobs = [{"type": "shell", "payload": {"argv": ["true"]}}, {"type": "noop"}]
    result = batch(client, admin, {"jobs": jobs})
    assert result.status_code == 201, result.text
    assert [job["type"] for job in result.json["items"]] == ["shell", "noop"]


def test_batch_requires_a_token(client):
    result = client.simulate_post("/jobs/batch", json={"jobs": [{"type": "noop"}]})
    assert result.status_code == 401
    assert "bearer" in result.headers.get("WWW-Authenticate", "").lower()
