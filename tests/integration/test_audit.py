"""The audit log against the real PostgreSQL: every change writes exactly one event in
its own transaction, a request that changes nothing writes none, no secret is ever
recorded, ``GET /audit`` lists, filters and pages them for admins only, and the
scheduler's maintenance prunes them after CHRONOS_AUDIT_RETENTION_DAYS.

Each request here carries an ``X-Request-Id`` of its own, and its events are found by
it, so the tests see only what they did in the run's shared database.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine, text

from api import admin as admin_cli
from api import serialize
from api.app import create_app
from scheduler.pruner import AuditPruner
from scheduler.service import Scheduler
from shared.audit import Action, ObjectType
from shared.clock import FixedClock
from shared.repository import audit as audit_repo
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.helpers import (
    assert_error,
    create_job,
    execute,
    later,
    sent,
    set_runs_running,
    unique,
)

EVENT_KEYS = {
    "id",
    "at",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "request_id",
    "details",
}


# --- helpers --------------------------------------------------------------------------------


def request_id() -> str:
    return f"audit-{uuid.uuid4().hex}"


def events(engine: Engine, request: str) -> list[dict[str, Any]]:
    """The events a request wrote, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM audit_events WHERE request_id = :request ORDER BY at, object_id"),
            {"request": request},
        ).mappings()
        return [dict(row) for row in rows]


def only_event(engine: Engine, request: str) -> dict[str, Any]:
    found = events(engine, request)
    assert len(found) == 1, found
    return found[0]


def who_what(event: dict[str, Any]) -> tuple[str | None, str, str, str, str | None]:
    """(actor, action, object type, object id, request id) of an event."""
    actor = None if event["actor_id"] is None else str(event["actor_id"])
    return actor, event["action"], event["object_type"], event["object_id"], event["request_id"]


def call(
    client: testing.TestClient,
    method: str,
    path: str,
    account: Account | None,
    request: str,
    **kwargs: Any,
) -> Any:
    headers = {**(account.headers if account else {}), "X-Request-Id": request}
    return client.simulate_request(method, path, headers=headers, **kwargs)


def listed(client: testing.TestClient, admin: Account, **params: Any) -> Any:
    return client.simulate_get("/audit", params=params, headers=admin.headers)


def a_job(client: testing.TestClient, account: Account, **body: Any) -> dict[str, Any]:
    schedule = {"run_at": sent(later(hours=1))}
    return create_job(client, account, **{"schedule": schedule, "name": unique(), **body})


# --- jobs -----------------------------------------------------------------------------------


def test_a_submit_writes_one_job_create(client, engine, user):
    request = request_id()
    body = {
        "type": "http",
        "name": unique(),
        "queue": "other",
        "priority": 3,
        "payload": {"url": "http://127.0.0.1:9/x", "json": {"k": "v"}},
        "schedule": {"run_at": sent(later(hours=1)), "repeat": "daily", "timezone": "UTC"},
    }
    result = call(client, "POST", "/jobs/submit", user, request, json=body)
    assert result.status_code == 201, result.text
    event = only_event(engine, request)
    assert who_what(event) == (
        user.id,
        Action.JOB_CREATE,
        ObjectType.JOB,
        result.json["id"],
        request,
    )
    assert event["details"] == {
        "name": body["name"],
        "type": "http",
        "queue": "other",
        "priority": 3,
        "schedule": {
            "run_at": result.json["schedule"]["run_at"],
            "repeat": "daily",
            "timezone": "UTC",
        },
    }


def test_an_idempotent_replay_writes_nothing(client, engine, user):
    first, replay = request_id(), request_id()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"type": "noop", "name": unique()}
    answers = [
        client.simulate_post(
            "/jobs/submit", json=body, headers={**user.headers, **key, "X-Request-Id": request}
        )
        for request in (first, replay)
    ]
    assert [answer.status_code for answer in answers] == [201, 200]
    assert only_event(engine, first)["object_id"] == answers[0].json["id"]
    assert events(engine, replay) == []


def test_a_batch_writes_one_event_per_job(client, engine, user):
    request = request_id()
    names = [unique() for _ in range(3)]
    body = {"jobs": [{"type": "noop", "name": name} for name in names]}
    result = call(client, "POST", "/jobs/batch", user, request, json=body)
    assert result.status_code == 201, result.text
    found = events(engine, request)
    assert sorted(event["object_id"] for event in found) == sorted(
        item["id"] for item in result.json["items"]
    )
    assert sorted(event["details"]["name"] for event in found) == sorted(names)
    for event in found:
        assert (str(event["actor_id"]), event["action"]) == (user.id, "job.create")


def test_a_rejected_batch_writes_nothing(client, engine, user):
    request = request_id()
    body = {"jobs": [{"type": "noop"}, {"type": "noop", "schedule": {"cron": "nope"}}]}
    assert_error(call(client, "POST", "/jobs/batch", user, request, json=body), 400, "jobs[1]")
    assert events(engine, request) == []


@pytest.fixture
def exploding_name(engine: Engine) -> Iterator[str]:
    """A job name that makes the commit of its transaction fail: a deferred constraint
    trigger, checked at COMMIT, after the batch and its audit events were written."""
    name = unique("explode")
    execute(
        engine,
        "CREATE FUNCTION audit_test_explode() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'exploded at commit'; END $$",
    )
    execute(
        engine,
        "CREATE CONSTRAINT TRIGGER audit_test_explode AFTER INSERT ON jobs "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        f"WHEN (NEW.name = '{name}') EXECUTE FUNCTION audit_test_explode()",
    )
    try:
        yield name
    finally:
        execute(engine, "DROP TRIGGER audit_test_explode ON jobs")
        execute(engine, "DROP FUNCTION audit_test_explode()")


def test_a_batch_rolled_back_at_commit_writes_nothing(client, engine, user, exploding_name):
    request = request_id()
    names = [unique(), exploding_name, unique()]
    body = {"jobs": [{"type": "noop", "name": name} for name in names]}
    result = call(client, "POST", "/jobs/batch", user, request, json=body)
    assert result.status_code == 500, result.text  # the fault is injected: no input does this
    assert events(engine, request) == []
    with engine.connect() as conn:
        jobs = conn.scalar(text("SELECT count(*) FROM jobs WHERE name = ANY(:n)"), {"n": names})
        named = conn.scalar(
            text("SELECT count(*) FROM audit_events WHERE details->>'name' = ANY(:n)"),
            {"n": names},
        )
    assert (jobs, named) == (0, 0)


def test_cancel_writes_one_event_and_a_repeat_none(client, engine, user):
    job = a_job(client, user)
    first, again = request_id(), request_id()
    assert call(client, "DELETE", f"/jobs/{job['id']}", user, first).status_code == 200
    event = only_event(engine, first)
    assert who_what(event) == (user.id, Action.JOB_CANCEL, ObjectType.JOB, job["id"], first)
    assert event["details"] == {
        "name": job["name"],
        "status": {"from": "scheduled", "to": "cancelled"},
    }
    assert call(client, "DELETE", f"/jobs/{job['id']}", user, again).status_code == 200
    assert events(engine, again) == []


def test_cancelling_a_finished_job_writes_nothing(client, engine, user):
    job = a_job(client, user)
    execute(engine, "UPDATE jobs SET status = 'succeeded' WHERE id = :id", id=job["id"])
    request = request_id()
    assert_error(call(client, "DELETE", f"/jobs/{job['id']}", user, request), 409)
    assert events(engine, request) == []


def test_an_action_on_another_users_job_writes_nothing(client, engine, user, other_user):
    job = a_job(client, other_user)
    for method, suffix in [("DELETE", ""), ("POST", "/pause"), ("POST", "/trigger")]:
        request = request_id()
        assert_error(call(client, method, f"/jobs/{job['id']}{suffix}", user, request), 404)
        assert events(engine, request) == []


def test_pause_and_resume_write_one_event_each_and_their_no_ops_none(client, engine, user):
    job = a_job(client, user, schedule={"run_at": sent(later(hours=1)), "repeat": "daily"})
    steps = [
        ("pause", Action.JOB_PAUSE, {"from": "scheduled", "to": "paused"}),
        ("pause", None, None),
        ("resume", Action.JOB_RESUME, {"from": "paused", "to": "scheduled"}),
        ("resume", None, None),
    ]
    for verb, action, status in steps:
        request = request_id()
        result = call(client, "POST", f"/jobs/{job['id']}/{verb}", user, request)
        assert result.status_code == 200, result.text
        if action is None:
            assert events(engine, request) == [], verb
            continue
        event = only_event(engine, request)
        assert who_what(event) == (user.id, action, ObjectType.JOB, job["id"], request)
        assert event["details"]["status"] == status


def test_reschedule_writes_the_schedule_from_and_to(client, engine, user):
    job = a_job(client, user)
    request = request_id()
    run_at = sent(later(hours=5))
    body = {"run_at": run_at, "cron": "0 9 * * *", "timezone": "Europe/Berlin"}
    result = call(client, "PUT", f"/jobs/{job['id']}/reschedule", user, request, json=body)
    assert result.status_code == 200, result.text
    event = only_event(engine, request)
    assert who_what(event) == (user.id, Action.JOB_RESCHEDULE, ObjectType.JOB, job["id"], request)
    assert event["details"]["schedule"] == {
        "from": {"run_at": job["schedule"]["run_at"], "timezone": "UTC"},
        "to": {
            "run_at": result.json["schedule"]["run_at"],
            "cron": "0 9 * * *",
            "timezone": "Europe/Berlin",
        },
    }


def test_a_failed_reschedule_writes_nothing(client, engine, user):
    job = a_job(client, user)
    bad = request_id()
    body = {"cron": "not a cron"}
    assert_error(call(client, "PUT", f"/jobs/{job['id']}/reschedule", user, bad, json=body), 400)
    assert events(engine, bad) == []
    set_runs_running(engine, job["id"])  # a one-off job with a live run: 409
    busy = request_id()
    body = {"run_at": sent(later(hours=2))}
    assert_error(call(client, "PUT", f"/jobs/{job['id']}/reschedule", user, busy, json=body), 409)
    assert events(engine, busy) == []


def test_trigger_writes_one_event_naming_the_run(client, engine, user, admin):
    job = a_job(client, user)
    request = request_id()
    result = call(client, "POST", f"/jobs/{job['id']}/trigger", admin, request)
    assert result.status_code == 202, result.text
    event = only_event(engine, request)
    assert who_what(event) == (admin.id, Action.JOB_TRIGGER, ObjectType.JOB, job["id"], request)
    assert event["details"] == {
        "run_id": result.json["id"],
        "scheduled_for": result.json["scheduled_for"],
    }
    call(client, "DELETE", f"/jobs/{job['id']}", user, request_id())
    refused = request_id()
    assert_error(call(client, "POST", f"/jobs/{job['id']}/trigger", user, refused), 409)
    assert events(engine, refused) == []


# --- users ----------------------------------------------------------------------------------


def sign_up(client: testing.TestClient, request: str, **headers: str) -> Any:
    body = {"username": f"a{uuid.uuid4().hex[:12]}", "password": "a long password"}
    return client.simulate_post(
        "/users/create", json=body, headers={"X-Request-Id": request, **headers}
    )


def test_a_sign_up_writes_one_user_create_by_the_new_user(client, engine):
    request = request_id()
    result = sign_up(client, request)
    assert result.status_code == 201, result.text
    user = result.json["user"]
    event = only_event(engine, request)
    assert who_what(event) == (user["id"], Action.USER_CREATE, ObjectType.USER, user["id"], request)
    assert event["details"] == {"username": user["username"], "role": "user", "via": "signup"}
    taken = request_id()
    again = client.simulate_post(
        "/users/create",
        json={"username": user["username"], "password": "a long password"},
        headers={"X-Request-Id": taken},
    )
    assert_error(again, 409)
    assert events(engine, taken) == []


def test_with_registration_closed_the_admin_is_the_actor(settings, engine, admin, user):
    closed = testing.TestClient(
        create_app(dataclasses.replace(settings, open_registration=False), engine=engine)
    )
    request = request_id()
    result = sign_up(closed, request, Authorization=admin.headers["Authorization"])
    assert result.status_code == 201, result.text
    assert str(only_event(engine, request)["actor_id"]) == admin.id
    refused = request_id()
    assert_error(sign_up(closed, refused, Authorization=user.headers["Authorization"]), 403)
    assert events(engine, refused) == []


def test_an_update_names_the_fields_changed_and_a_role_from_and_to(client, engine, user, admin):
    request = request_id()
    body = {"email": "new@example.com", "role": "admin", "password": "reset by the admin"}
    result = call(client, "PUT", f"/users/{user.id}/update", admin, request, json=body)
    assert result.status_code == 200, result.text
    event = only_event(engine, request)
    assert who_what(event) == (admin.id, Action.USER_UPDATE, ObjectType.USER, user.id, request)
    assert event["details"] == {
        "username": user.username,
        "fields": ["email", "password", "role"],
        "role": {"from": "user", "to": "admin"},
    }


def test_an_update_that_changes_nothing_writes_nothing(client, engine, user, admin):
    email = {"email": "a@b.cd"}
    result = call(client, "PUT", f"/users/{user.id}/update", user, request_id(), json=email)
    assert result.status_code == 200, result.text
    for body in [{}, {"email": "a@b.cd"}, {"username": user.username}]:
        request = request_id()
        result = call(client, "PUT", f"/users/{user.id}/update", user, request, json=body)
        assert result.status_code == 200, result.text
        assert events(engine, request) == [], body
    same_role = request_id()
    body = {"role": "user"}
    result = call(client, "PUT", f"/users/{user.id}/update", admin, same_role, json=body)
    assert result.status_code == 200, result.text
    assert events(engine, same_role) == []


def test_a_refused_update_writes_nothing(client, engine, user, other_user):
    cases = [
        (user, {"role": "admin"}, 403),  # only an admin sets a role
        (user, {"password": "a new password", "current_password": "wrong"}, 403),
        (user, {"username": other_user.username}, 409),  # taken
        (other_user, {"email": "x@y.zz"}, 404),  # another user's account
    ]
    for who, body, status in cases:
        request = request_id()
        result = call(client, "PUT", f"/users/{user.id}/update", who, request, json=body)
        assert_error(result, status)
        assert events(engine, request) == [], body


def test_a_deletion_writes_one_event_that_outlives_the_user(client, engine, user, admin):
    request = request_id()
    assert call(client, "DELETE", f"/users/{user.id}/delete", user, request).status_code == 204
    event = only_event(engine, request)
    assert who_what(event) == (user.id, Action.USER_DELETE, ObjectType.USER, user.id, request)
    assert event["details"] == {"username": user.username, "role": "user"}
    gone = request_id()
    assert_error(call(client, "DELETE", f"/users/{user.id}/delete", admin, gone), 404)
    assert events(engine, gone) == []
    # The deleted user's events are still listed, under their id.
    page = listed(client, admin, actor=user.id)
    assert page.status_code == 200, page.text
    assert [item["action"] for item in page.json["items"]] == ["user.delete"]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("CHRONOS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CHRONOS_JWT_SECRET", settings.jwt_secret)
    monkeypatch.setenv("CHRONOS_ADMIN_PASSWORD", "the operator's password")


def cli_events(engine: Engine, user_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM audit_events WHERE object_id = :id ORDER BY at"), {"id": user_id}
        ).mappings()
        return [dict(row) for row in rows]


def test_the_admin_cli_records_creations_and_promotions_without_an_actor(
    cli_env, engine, user, capsys
):
    username = f"op{uuid.uuid4().hex[:10]}"
    assert admin_cli.main([username]) == 0
    with engine.connect() as conn:
        created_id = str(
            conn.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": username})
        )
    [created] = cli_events(engine, created_id)
    assert who_what(created) == (None, Action.USER_CREATE, ObjectType.USER, created_id, None)
    assert created["details"] == {"username": username, "role": "admin", "via": "cli"}

    assert admin_cli.main([user.username, "--promote-existing"]) == 0
    [promoted] = cli_events(engine, user.id)
    assert (promoted["actor_id"], promoted["action"]) == (None, "user.update")
    assert promoted["details"]["fields"] == ["password", "role"]
    assert promoted["details"]["role"] == {"from": "user", "to": "admin"}
    # A refusal records nothing.
    assert admin_cli.main([user.username], interactive=lambda: False) == 1
    assert len(cli_events(engine, user.id)) == 1
    capsys.readouterr()


# --- secrets --------------------------------------------------------------------------------


def test_no_event_carries_a_password_a_hash_a_token_or_a_header_value(
    client, engine, settings, admin
):
    password, new_password = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    header_value = f"header-{uuid.uuid4().hex}"
    requests = [request_id() for _ in range(6)]
    signup = client.simulate_post(
        "/users/create",
        json={"username": f"s{uuid.uuid4().hex[:12]}", "password": password},
        headers={"X-Request-Id": requests[0]},
    )
    assert signup.status_code == 201, signup.text
    token = signup.json["token"]
    user_id = signup.json["user"]["id"]
    me = {"Authorization": f"Bearer {token}"}
    job = {
        "type": "http",
        "payload": {"url": "http://127.0.0.1:9/s", "headers": {"X-Secret": header_value}},
        "schedule": {"run_at": sent(later(hours=1))},
    }
    answers = [
        client.simulate_post("/jobs/submit", json=job, headers={**me, "X-Request-Id": requests[1]}),
        client.simulate_post(
            "/jobs/batch", json={"jobs": [job]}, headers={**me, "X-Request-Id": requests[2]}
        ),
        client.simulate_put(
            f"/users/{user_id}/update",
            json={"password": new_password, "current_password": password},
            headers={**me, "X-Request-Id": requests[3]},
        ),
        client.simulate_put(
            f"/users/{user_id}/update",
            json={"password": password},
            headers={**admin.headers, "X-Request-Id": requests[4]},
        ),
        client.simulate_delete(
            f"/users/{user_id}/delete", headers={**admin.headers, "X-Request-Id": requests[5]}
        ),
    ]
    assert [answer.status_code for answer in answers] == [201, 201, 200, 200, 204]
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT row_to_json(e)::text FROM audit_events e WHERE request_id = ANY(:r)"),
            {"r": requests},
        ).scalars()
        recorded = list(rows)
    assert len(recorded) == 6  # one per change: sign-up, submit, batch, two updates, delete
    listing = (
        listed(client, admin, actor=user_id).text + listed(client, admin, object_id=user_id).text
    )
    for secret in [password, new_password, header_value, token, "$argon2", settings.jwt_secret]:
        for row in [*recorded, listing]:
            assert secret not in row, row
    assert "X-Secret" not in "".join(recorded)  # not even the header's name: no payload copied


# --- GET /audit -----------------------------------------------------------------------------


def test_the_audit_log_is_for_admins_only(client, user):
    assert_error(client.simulate_get("/audit"), 401)
    assert_error(client.simulate_get("/audit", headers=user.headers), 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actor": "not-a-uuid"}, "actor"),
        ({"actor": "0" * 32}, "actor"),  # a UUID, but not as one is written
        ({"action": "job.explode"}, "action"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"object_id": "a\x00b"}, "object_id"),
    ],
)
def test_bad_filters_are_400_naming_them(client, admin, params, field):
    assert_error(listed(client, admin, **params), 400, field)


def test_a_jobs_cursor_is_refused_here(client, admin, settings):
    """The same signing as /jobs, bound to another scope: a cursor is good for one list."""
    position = {"created_at": datetime.now(UTC), "at": datetime.now(UTC), "id": uuid.uuid4()}
    for scope in (f"jobs:{admin.id}", "runs:x"):
        foreign = serialize.cursors(settings.jwt_secret, scope).encode(position)
        assert_error(listed(client, admin, cursor=foreign), 400, "cursor")
    own = serialize.cursors(settings.jwt_secret, "audit", column="at").encode(position)
    assert listed(client, admin, cursor=own).status_code == 200


@pytest.fixture
def history(client, user, make_user: Callable[..., Account]) -> dict[str, Any]:
    """A fresh actor's five changes to two jobs, in order."""
    actor = make_user()
    first = a_job(client, actor, schedule={"run_at": sent(later(hours=1)), "repeat": "daily"})
    second = a_job(client, actor)
    for path in (f"/jobs/{first['id']}/pause", f"/jobs/{first['id']}/resume"):
        assert client.simulate_post(path, headers=actor.headers).status_code == 200
    assert client.simulate_delete(f"/jobs/{second['id']}", headers=actor.headers).status_code == 200
    a_job(client, user)  # someone else's change, which no filter on the actor shows
    return {"actor": actor, "first": first["id"], "second": second["id"]}


def test_the_listing_is_newest_first_and_filters_by_actor_object_and_action(client, admin, history):
    actor = history["actor"]
    page = listed(client, admin, actor=actor.id)
    assert page.status_code == 200, page.text
    items = page.json["items"]
    assert page.json["next_cursor"] is None
    assert [(item["action"], item["object_id"]) for item in items] == [
        ("job.cancel", history["second"]),
        ("job.resume", history["first"]),
        ("job.pause", history["first"]),
        ("job.create", history["second"]),
        ("job.create", history["first"]),
    ]
    for item in items:
        assert set(item) == EVENT_KEYS
        assert (item["actor_id"], item["object_type"]) == (actor.id, "job")
        assert item["at"].endswith("Z")
    by_object = listed(client, admin, object_id=history["first"]).json["items"]
    assert [item["action"] for item in by_object] == ["job.resume", "job.pause", "job.create"]
    by_action = listed(client, admin, actor=actor.id, action="job.create").json["items"]
    assert [item["object_id"] for item in by_action] == [history["second"], history["first"]]
    everyone = listed(client, admin, action="job.pause", limit=200).json["items"]
    assert history["first"] in {item["object_id"] for item in everyone}
    assert {item["action"] for item in everyone} == {"job.pause"}
    nobody = listed(client, admin, actor=str(uuid.uuid4()))
    assert nobody.json == {"items": [], "next_cursor": None}


def test_the_listing_pages_with_cursors(client, admin, history):
    actor = history["actor"].id
    whole = listed(client, admin, actor=actor).json["items"]
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params = {"actor": actor, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = listed(client, admin, **params)
        assert page.status_code == 200, page.text
        assert len(page.json["items"]) <= 2
        seen += page.json["items"]
        pages += 1
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == whole
    assert len(whole) == 5


# --- retention ------------------------------------------------------------------------------


def old_events(engine: Engine, now: datetime, ages_in_days: list[float]) -> str:
    """Events of the given ages under one fresh object id; returns the id."""
    object_id = f"retention-{uuid.uuid4().hex}"
    with engine.begin() as conn:
        for age in ages_in_days:
            audit_repo.record(
                conn,
                at=now - timedelta(days=age),
                actor_id=None,
                action=Action.JOB_CREATE,
                object_type=ObjectType.JOB,
                object_id=object_id,
                request_id=None,
                details={"age": age},
            )
    return object_id


def ages_left(engine: Engine, object_id: str) -> list[float]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT details FROM audit_events WHERE object_id = :id ORDER BY at"),
            {"id": object_id},
        ).scalars()
        return [details["age"] for details in rows]


def test_the_pruner_keeps_90_days_in_bounded_batches(settings, engine):
    now = datetime.now(UTC)
    object_id = old_events(engine, now, [400, 200, 91, 90.5, 89.9, 30, 0])
    assert settings.audit_retention_days == 90
    clock = FixedClock(now)
    one_batch = AuditPruner(settings, engine, clock, batch_size=2, max_batches=1)
    assert one_batch.run_once() == 2
    assert not one_batch.caught_up
    assert ages_left(engine, object_id) == [91, 90.5, 89.9, 30, 0]
    assert AuditPruner(settings, engine, clock, batch_size=2).run_once() == 2
    assert ages_left(engine, object_id) == [89.9, 30, 0]
    shorter = AuditPruner(dataclasses.replace(settings, audit_retention_days=7), engine, clock)
    assert shorter.run_once() >= 2
    assert ages_left(engine, object_id) == [0]


def test_the_schedulers_maintenance_prunes_the_audit_log(settings, engine):
    now = datetime.now(UTC)
    object_id = old_events(engine, now, [120, 1])
    scheduler = Scheduler(settings, engine, FixedClock(now))
    try:
        scheduler.maintain_once()
    finally:
        scheduler.close()
    assert ages_left(engine, object_id) == [1]
