"""GET, PATCH, pause and resume of /queues: who may, what they answer, what is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.integration.helpers import TIME, assert_error, create_job

QUEUE_KEYS = {
    "name",
    "paused",
    "concurrency",
    "pending_due",
    "pending_future",
    "queued",
    "running",
    "oldest_due_at",
}
# "other" is one of the test settings' CHRONOS_QUEUES, used by few other tests.
QUEUE = "other"


@pytest.fixture
def restored(engine: Engine) -> Iterator[None]:
    """Leave the queue's controls as they were, for the tests that share it."""
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM queues WHERE name = :name"), {"name": QUEUE})


def patch(client: Any, account: Any, body: Any, name: str = QUEUE) -> Any:
    return client.simulate_patch(f"/queues/{name}", json=body, headers=account.headers)


def test_every_user_sees_every_configured_queue_with_their_own_counts(
    client, user, other_user, admin
):
    create_job(client, user, queue=QUEUE)
    create_job(client, other_user, queue=QUEUE, schedule={"run_at": "2099-01-01T00:00:00Z"})

    mine = client.simulate_get("/queues", headers=user.headers)
    assert mine.status_code == 200, mine.text
    assert [item["name"] for item in mine.json["items"]] == ["default", "other"]
    queue = mine.json["items"][1]
    assert set(queue) == QUEUE_KEYS
    assert (queue["pending_due"], queue["pending_future"]) == (1, 0)
    assert TIME.match(queue["oldest_due_at"])
    assert (queue["paused"], queue["concurrency"]) == (False, None)

    theirs = client.simulate_get(f"/queues/{QUEUE}", headers=other_user.headers).json
    assert (theirs["pending_due"], theirs["pending_future"]) == (0, 1)
    assert theirs["oldest_due_at"] is None
    everyone = client.simulate_get(f"/queues/{QUEUE}", headers=admin.headers).json
    assert everyone["pending_due"] >= 1
    assert everyone["pending_future"] >= 1


def test_a_queue_outside_chronos_queues_is_404(client, user, admin):
    assert_error(client.simulate_get("/queues/nowhere", headers=user.headers), 404, "name")
    assert_error(patch(client, admin, {"paused": True}, name="nowhere"), 404, "name")
    result = client.simulate_post("/queues/nowhere/pause", headers=admin.headers)
    assert_error(result, 404, "name")


def test_only_an_admin_may_change_a_queue(client, user, restored):
    assert_error(patch(client, user, {"paused": True}), 403)
    for action in ("pause", "resume"):
        result = client.simulate_post(f"/queues/{QUEUE}/{action}", headers=user.headers)
        assert_error(result, 403)
    assert client.simulate_get("/queues/other", headers=user.headers).json["paused"] is False
    assert client.simulate_get("/queues").status_code == 401


def test_an_admin_pauses_limits_and_resumes(client, admin, restored):
    paused = client.simulate_post(f"/queues/{QUEUE}/pause", headers=admin.headers)
    assert paused.status_code == 200, paused.text
    assert paused.json["paused"] is True

    limited = patch(client, admin, {"concurrency": 4})
    assert (limited.json["paused"], limited.json["concurrency"]) == (True, 4)

    resumed = client.simulate_post(f"/queues/{QUEUE}/resume", headers=admin.headers)
    assert (resumed.json["paused"], resumed.json["concurrency"]) == (False, 4)

    unlimited = patch(client, admin, {"concurrency": None})
    assert (unlimited.json["paused"], unlimited.json["concurrency"]) == (False, None)
    both = patch(client, admin, {"paused": True, "concurrency": 10000})
    assert (both.json["paused"], both.json["concurrency"]) == (True, 10000)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "paused"),
        ({"paused": "true"}, "paused"),
        ({"paused": 1}, "paused"),
        ({"paused": None}, "paused"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 10001}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": "4"}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"limit": 4}, "limit"),
        ([], "body"),
    ],
)
def test_a_bad_patch_is_400_naming_the_field(client, admin, restored, body, field):
    result = patch(client, admin, body)
    assert_error(result, 400, field)
    assert client.simulate_get(f"/queues/{QUEUE}", headers=admin.headers).json["paused"] is False


def queue_events(engine: Engine, request: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM audit_events WHERE request_id = :r"), {"r": request}
        ).mappings()
        return [dict(row) for row in rows]


def test_each_queue_change_writes_one_audit_event_and_a_no_op_none(
    client, engine, admin, user, restored
):
    steps: list[tuple[str, str, Any, dict[str, Any] | None]] = [
        ("POST", "pause", None, {"paused": {"from": False, "to": True}}),
        ("POST", "pause", None, None),  # already paused: nothing changed
        ("PATCH", "", {"concurrency": 5}, {"concurrency": {"from": None, "to": 5}}),
        ("PATCH", "", {"concurrency": 5, "paused": True}, None),
        (
            "PATCH",
            "",
            {"concurrency": None, "paused": False},
            {"paused": {"from": True, "to": False}, "concurrency": {"from": 5, "to": None}},
        ),
    ]
    for number, (method, action, body, details) in enumerate(steps):
        request = f"queue-audit-{number}-{admin.id}"
        path = f"/queues/{QUEUE}/{action}" if action else f"/queues/{QUEUE}"
        headers = {**admin.headers, "X-Request-Id": request}
        result = client.simulate_request(method, path, json=body, headers=headers)
        assert result.status_code == 200, result.text
        found = queue_events(engine, request)
        if details is None:
            assert found == [], (method, action, body)
            continue
        assert len(found) == 1, found
        event = found[0]
        assert (str(event["actor_id"]), event["action"], event["object_type"]) == (
            admin.id,
            "queue.update",
            "queue",
        )
        assert (event["object_id"], event["details"]) == (QUEUE, details)

    refused = {**user.headers, "X-Request-Id": f"queue-audit-refused-{user.id}"}
    client.simulate_post(f"/queues/{QUEUE}/pause", headers=refused)
    assert queue_events(engine, refused["X-Request-Id"]) == []
    listed = client.simulate_get("/audit", params={"object_id": QUEUE}, headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert {item["action"] for item in listed.json["items"]} == {"queue.update"}
