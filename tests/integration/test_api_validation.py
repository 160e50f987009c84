"""Request validation: media types, body size, malformed JSON and hostile submit bodies.

No input may produce a 500: every bad body gets a 400 that names the field at fault.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.helpers import assert_error, create_job, jobs_listed, sent, submit

Body = Callable[[datetime], Any]


def post_raw(client: Any, path: str, account: Any, raw: bytes | str, ctype: str) -> Any:
    headers = {**account.headers, "Content-Type": ctype}
    return client.simulate_post(path, body=raw, headers=headers)


# --- media type, size and JSON --------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "xml"],
)
def test_submit_with_a_non_json_content_type_is_415(client, user, ctype):
    result = post_raw(client, "/jobs/submit", user, b'{"type": "noop"}', ctype)
    assert_error(result, 415)
    assert jobs_listed(client, user) == []


def test_other_bodies_with_a_non_json_content_type_are_415(client, user):
    job = create_job(client, user)
    plain = {**user.headers, "Content-Type": "text/plain"}
    payload = b'{"run_at": "2030-01-01T00:00:00Z"}'
    requests = [
        ("POST", "/jobs/batch", b'{"jobs": [{"type": "noop"}]}'),
        ("PUT", f"/jobs/{job['id']}/reschedule", payload),
        ("PUT", f"/users/{user.id}/update", b'{"email": "a@example.test"}'),
        ("POST", "/users/create", b'{"username": "plainuser", "password": "12345678"}'),
        ("POST", "/auth/token", b'{"username": "plainuser", "password": "12345678"}'),
    ]
    for method, path, raw in requests:
        result = client.simulate_request(method, path, body=raw, headers=plain)
        assert_error(result, 415)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"{'type': 'noop'}",
        b'{"type": "noop",}',
        b'{"type": "noop"} trailing',
        b"\xff\xfe\x00garbage",
        b'{"type": "noop", "priority": NaN}',
        b'{"type": "noop", "priority": Infinity}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ],
    ids=[
        "broken",
        "empty",
        "single-quotes",
        "trailing-comma",
        "trailing-text",
        "not-utf8",
        "nan",
        "infinity",
        "deep-list",
        "deep-object",
    ],
)
def test_submit_invalid_json_is_400(client, user, raw):
    assert_error(post_raw(client, "/jobs/submit", user, raw, "application/json"), 400)
    assert jobs_listed(client, user) == []


@pytest.mark.parametrize("raw", [b"[]", b'[{"type": "noop"}]', b'"noop"', b"42", b"null", b"true"])
def test_submit_json_that_is_not_an_object_is_400(client, user, raw):
    assert_error(post_raw(client, "/jobs/submit", user, raw, "application/json"), 400)


@pytest.mark.parametrize("path", ["/jobs/batch", "/users/create", "/auth/token"])
def test_other_posts_with_bad_json_are_400(client, user, path):
    assert_error(post_raw(client, path, user, b"{oops", "application/json"), 400)
    assert_error(post_raw(client, path, user, b"[1, 2]", "application/json"), 400)


def test_body_over_256_kib_is_413(client, user):
    body = json.dumps({"type": "noop", "name": "x" * (300 * 1024)})
    assert_error(post_raw(client, "/jobs/submit", user, body, "application/json"), 413)
    assert jobs_listed(client, user) == []


def test_batch_over_256_kib_is_413(client, user):
    jobs = [{"type": "fail", "payload": {"message": "m" * 1000}}] * 300
    raw = json.dumps({"jobs": jobs})
    assert len(raw) > 256 * 1024
    assert_error(post_raw(client, "/jobs/batch", user, raw, "application/json"), 413)
    assert jobs_listed(client, user) == []


def test_body_just_under_the_limit_is_not_413(client, user):
    raw = json.dumps({"type": "fail", "payload": {"message": "m" * 4000}})
    result = post_raw(client, "/jobs/submit", user, raw, "application/json")
    assert result.status_code == 201, result.text


# --- hostile submit bodies ----------------------------------------------------------------------


def job(**fields: Any) -> Body:
    return lambda now: {"type": "noop", **fields}


def typed(job_type: str, payload: Any) -> Body:
    return lambda now: {"type": job_type, "payload": payload}


def schedule(**fields: Any) -> Body:
    return lambda now: {"type": "noop", "schedule": fields}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": [1, None, "x"]}
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE: list[Any] = [
    # name
    pytest.param(job(name=123), ("name",), id="name-int"),
    pytest.param(job(name=""), ("name",), id="name-empty"),
    pytest.param(job(name="x" * 201), ("name",), id="name-too-long"),
    pytest.param(job(name=["a"]), ("name",), id="name-list"),
    pytest.param(job(name={"a": 1}), ("name",), id="name-object"),
    pytest.param(job(name=True), ("name",), id="name-bool"),
    # type
    pytest.param(lambda now: {}, ("type",), id="type-missing"),
    pytest.param(lambda now: {"type": None}, ("type",), id="type-null"),
    pytest.param(lambda now: {"type": "teleport"}, ("type",), id="type-unknown"),
    pytest.param(lambda now: {"type": 5}, ("type",), id="type-int"),
    pytest.param(lambda now: {"type": ["noop"]}, ("type",), id="type-list"),
    pytest.param(lambda now: {"type": "'; DROP TABLE jobs; --"}, ("type",), id="type-sql"),
    pytest.param(lambda now: {"type": "NOOP"}, ("type",), id="type-wrong-case"),
    # payload
    pytest.param(typed("noop", "str"), ("payload",), id="payload-string"),
    pytest.param(typed("noop", [1, 2]), ("payload",), id="payload-list"),
    pytest.param(typed("noop", 7), ("payload",), id="payload-int"),
    pytest.param(typed("noop", {"x": 1}), ("payload.x",), id="payload-unknown-key"),
    pytest.param(typed("noop", nested(40)), ("payload.a",), id="payload-nested-garbage"),
    pytest.param(typed("http", {}), ("payload.url",), id="http-url-missing"),
    pytest.param(typed("http", {"url": "ftp://example.test"}), ("payload.url",), id="http-ftp"),
    pytest.param(typed("http", {"url": "not a url"}), ("payload.url",), id="http-not-url"),
    pytest.param(typed("http", {"url": 42}), ("payload.url",), id="http-url-int"),
    pytest.param(typed("http", {"url": "http://"}), ("payload.url",), id="http-no-host"),
    pytest.param(
        typed("http", {"url": "http://example.test:99999/"}), ("payload.url",), id="http-port"
    ),
    pytest.param(
        typed("http", {"url": "https://example.test", "method": "TELEPORT"}),
        ("payload.method",),
        id="http-method",
    ),
    pytest.param(
        typed("http", {"url": "https://example.test", "headers": {"X-A": 1}}),
        ("payload.headers",),
        id="http-header-int",
    ),
    pytest.param(
        typed("http", {"url": "https://example.test", "timeout_seconds": -1}),
        ("payload.timeout_seconds",),
        id="http-timeout-negative",
    ),
    pytest.param(typed("sleep", {"seconds": -1}), ("payload.seconds",), id="sleep-negative"),
    pytest.param(typed("sleep", {"seconds": "5"}), ("payload.seconds",), id="sleep-string"),
    pytest.param(typed("sleep", {"seconds": 10**30}), ("payload.seconds",), id="sleep-huge"),
    pytest.param(typed("sleep", {"seconds": True}), ("payload.seconds",), id="sleep-bool"),
    pytest.param(typed("sleep", {"seconds": 86401}), ("payload.seconds",), id="sleep-over-day"),
    pytest.param(
        typed("email", {"to": "a@example.test", "subject": "s"}), ("payload.to",), id="email-to-str"
    ),
    pytest.param(typed("email", {"to": [], "subject": "s"}), ("payload.to",), id="email-to-empty"),
    pytest.param(
        typed("email", {"to": ["nobody"], "subject": "s"}), ("payload.to",), id="email-to-bad"
    ),
    pytest.param(
        typed("email", {"to": ["a@example.test"]}), ("payload.subject",), id="email-no-subject"
    ),
    pytest.param(typed("fail", {"message": 5}), ("payload.message",), id="fail-message-int"),
    # queue
    pytest.param(job(queue="UPPER"), ("queue",), id="queue-upper"),
    pytest.param(job(queue=""), ("queue",), id="queue-empty"),
    pytest.param(job(queue="q" * 65), ("queue",), id="queue-too-long"),
    pytest.param(job(queue="has space"), ("queue",), id="queue-space"),
    pytest.param(job(queue="'; DROP TABLE jobs; --"), ("queue",), id="queue-sql"),
    pytest.param(job(queue=7), ("queue",), id="queue-int"),
    pytest.param(job(queue="émoji📅"), ("queue",), id="queue-unicode"),
    # priority
    pytest.param(job(priority=10), ("priority",), id="priority-10"),
    pytest.param(job(priority=-1), ("priority",), id="priority-negative"),
    pytest.param(job(priority=1.5), ("priority",), id="priority-float"),
    pytest.param(job(priority=True), ("priority",), id="priority-true"),
    pytest.param(job(priority="1"), ("priority",), id="priority-string"),
    pytest.param(job(priority=10**30), ("priority",), id="priority-huge"),
    pytest.param(job(priority=-(10**30)), ("priority",), id="priority-huge-negative"),
    pytest.param(job(priority=[1]), ("priority",), id="priority-list"),
    pytest.param(job(priority=1e300), ("priority",), id="priority-big-float"),
    # attempts, backoff, timeout
    pytest.param(job(max_attempts=0), ("max_attempts",), id="attempts-0"),
    pytest.param(job(max_attempts=101), ("max_attempts",), id="attempts-101"),
    pytest.param(job(max_attempts=2.5), ("max_attempts",), id="attempts-float"),
    pytest.param(job(max_attempts=True), ("max_attempts",), id="attempts-true"),
    pytest.param(job(max_attempts=10**30), ("max_attempts",), id="attempts-huge"),
    pytest.param(job(retry_backoff_seconds=-1), ("retry_backoff_seconds",), id="backoff-neg"),
    pytest.param(job(retry_backoff_seconds="30"), ("retry_backoff_seconds",), id="backoff-str"),
    pytest.param(job(retry_backoff_seconds=1.5), ("retry_backoff_seconds",), id="backoff-float"),
    pytest.param(job(retry_backoff_seconds=10**30), ("retry_backoff_seconds",), id="backoff-huge"),
    pytest.param(job(timeout_seconds=0), ("timeout_seconds",), id="timeout-0"),
    pytest.param(job(timeout_seconds=86401), ("timeout_seconds",), id="timeout-86401"),
    pytest.param(job(timeout_seconds=False), ("timeout_seconds",), id="timeout-false"),
    pytest.param(job(timeout_seconds=-5), ("timeout_seconds",), id="timeout-negative"),
    # policies
    pytest.param(job(misfire_policy="sometimes"), ("misfire_policy",), id="misfire-unknown"),
    pytest.param(job(misfire_policy=1), ("misfire_policy",), id="misfire-int"),
    pytest.param(job(misfire_policy=["skip"]), ("misfire_policy",), id="misfire-list"),
    pytest.param(job(overlap_policy="maybe"), ("overlap_policy",), id="overlap-unknown"),
    pytest.param(job(overlap_policy={"a": 1}), ("overlap_policy",), id="overlap-object"),
    # unknown fields
    pytest.param(job(foo=1), ("foo",), id="unknown-field"),
    pytest.param(job(owner_id=str(uuid.uuid4())), ("owner_id",), id="unknown-owner-id"),
    pytest.param(job(status="succeeded"), ("status",), id="unknown-status"),
    # schedule shape
    pytest.param(job(schedule="tomorrow"), ("schedule",), id="schedule-string"),
    pytest.param(job(schedule=[]), ("schedule",), id="schedule-list"),
    pytest.param(job(schedule=5), ("schedule",), id="schedule-int"),
    pytest.param(schedule(foo=1), ("schedule.foo",), id="schedule-unknown-field"),
    # run_at
    pytest.param(schedule(run_at="2027-01-01T09:00:00"), ("schedule.run_at",), id="no-offset"),
    pytest.param(schedule(run_at="2026-13-45T99:00:00Z"), ("schedule.run_at",), id="bad-date"),
    pytest.param(schedule(run_at="tomorrow"), ("schedule.run_at",), id="run-at-word"),
    pytest.param(schedule(run_at=""), ("schedule.run_at",), id="run-at-empty"),
    pytest.param(schedule(run_at=1_900_000_000), ("schedule.run_at",), id="run-at-epoch"),
    pytest.param(schedule(run_at="2027-01-01"), ("schedule.run_at",), id="run-at-date-only"),
    pytest.param(schedule(run_at="2027-02-30T09:00:00Z"), ("schedule.run_at",), id="run-at-feb-30"),
    pytest.param(
        schedule(run_at="2027-01-01T09:00:00+25:00"), ("schedule.run_at",), id="run-at-offset-25"
    ),
    pytest.param(schedule(run_at="'; DROP TABLE jobs; --"), ("schedule.run_at",), id="run-at-sql"),
    pytest.param(
        lambda now: {"type": "noop", "schedule": {"run_at": sent(now - timedelta(minutes=10))}},
        ("schedule.run_at",),
        id="run-at-10-minutes-ago",
    ),
    pytest.param(
        schedule(run_at="0001-01-01T00:00:00+01:00"), ("schedule.run_at",), id="run-at-year-1"
    ),
    # timezone
    pytest.param(schedule(timezone="Mars/Olympus"), ("schedule.timezone",), id="tz-mars"),
    pytest.param(schedule(timezone=""), ("schedule.timezone",), id="tz-empty"),
    pytest.param(schedule(timezone=5), ("schedule.timezone",), id="tz-int"),
    pytest.param(schedule(timezone="../../etc/passwd"), ("schedule.timezone",), id="tz-path"),
    pytest.param(schedule(timezone="/etc/localtime"), ("schedule.timezone",), id="tz-absolute"),
    pytest.param(schedule(timezone="Europe/Berlin\u0000"), ("schedule.timezone",), id="tz-nul"),
    # cron
    pytest.param(schedule(cron="* * *"), ("schedule.cron",), id="cron-3-fields"),
    pytest.param(schedule(cron="@daily"), ("schedule.cron",), id="cron-macro"),
    pytest.param(schedule(cron="0 0 * * * *"), ("schedule.cron",), id="cron-6-fields"),
    pytest.param(schedule(cron="61 * * * *"), ("schedule.cron",), id="cron-minute-61"),
    pytest.param(schedule(cron="* 24 * * *"), ("schedule.cron",), id="cron-hour-24"),
    pytest.param(schedule(cron="0 0 31 2 *"), ("schedule.cron",), id="cron-feb-31"),
    pytest.param(schedule(cron="*/0 * * * *"), ("schedule.cron",), id="cron-step-0"),
    pytest.param(schedule(cron=""), ("schedule.cron",), id="cron-empty"),
    pytest.param(schedule(cron=5), ("schedule.cron",), id="cron-int"),
    pytest.param(schedule(cron="a b c d e"), ("schedule.cron",), id="cron-letters"),
    # repeat / interval
    pytest.param(schedule(repeat="yearly"), ("schedule.repeat",), id="repeat-yearly"),
    pytest.param(schedule(repeat=1), ("schedule.repeat",), id="repeat-int"),
    pytest.param(schedule(repeat="DAILY"), ("schedule.repeat",), id="repeat-upper"),
    pytest.param(schedule(interval_seconds=0), ("schedule.interval_seconds",), id="interval-0"),
    pytest.param(schedule(interval_seconds=-5), ("schedule.interval_seconds",), id="interval-neg"),
    pytest.param(
        schedule(interval_seconds=1.5), ("schedule.interval_seconds",), id="interval-float"
    ),
    pytest.param(
        schedule(interval_seconds=True), ("schedule.interval_seconds",), id="interval-true"
    ),
    pytest.param(
        schedule(interval_seconds="60"), ("schedule.interval_seconds",), id="interval-string"
    ),
    pytest.param(
        schedule(interval_seconds=10**30), ("schedule.interval_seconds",), id="interval-huge"
    ),
    # combinations
    pytest.param(
        schedule(repeat="daily", cron="0 9 * * *"),
        ("schedule.cron", "schedule.repeat"),
        id="repeat-and-cron",
    ),
    pytest.param(
        schedule(repeat="daily", interval_seconds=60),
        ("schedule.interval_seconds", "schedule.repeat"),
        id="repeat-and-interval",
    ),
    pytest.param(
        schedule(interval_seconds=60, cron="0 9 * * *"),
        ("schedule.cron", "schedule.interval_seconds"),
        id="interval-and-cron",
    ),
    # end_at and max_runs
    pytest.param(
        lambda now: {
            "type": "noop",
            "schedule": {
                "run_at": sent(now + timedelta(days=1)),
                "end_at": sent(now + timedelta(hours=1)),
                "repeat": "daily",
            },
        },
        ("schedule.end_at",),
        id="end-before-run-at",
    ),
    pytest.param(schedule(end_at="soon"), ("schedule.end_at",), id="end-at-word"),
    pytest.param(schedule(end_at="2027-01-01T00:00:00"), ("schedule.end_at",), id="end-no-offset"),
    pytest.param(schedule(max_runs=0), ("schedule.max_runs",), id="max-runs-0"),
    pytest.param(schedule(max_runs=-1), ("schedule.max_runs",), id="max-runs-negative"),
    pytest.param(schedule(max_runs="3"), ("schedule.max_runs",), id="max-runs-string"),
    pytest.param(schedule(max_runs=10**30), ("schedule.max_runs",), id="max-runs-huge"),
    pytest.param(schedule(max_runs=2.5), ("schedule.max_runs",), id="max-runs-float"),
]


@pytest.mark.parametrize(("make_body", "fields"), HOSTILE)
def test_hostile_submit_body_is_400_naming_the_field(client, user, make_body, fields):
    body = make_body(datetime.now(UTC))
    result = client.simulate_post("/jobs/submit", json=body, headers=user.headers)
    assert_error(result, 400, *fields)
    assert jobs_listed(client, user) == []


def test_huge_integer_literal_is_400(client, user):
    raw = '{"type": "noop", "priority": ' + "9" * 5000 + "}"
    result = post_raw(client, "/jobs/submit", user, raw, "application/json")
    assert_error(result, 400)


def test_nan_inside_a_payload_is_400(client, user):
    raw = '{"type": "http", "payload": {"url": "https://example.test", "json": {"v": NaN}}}'
    result = post_raw(client, "/jobs/submit", user, raw, "application/json")
    assert_error(result, 400)
    assert jobs_listed(client, user) == []


@pytest.mark.parametrize(
    "body",
    [
        {"type": "noop", "name": "bad\u0000name"},
        {"type": "fail", "payload": {"message": "nul \u0000 byte"}},
        {
            "type": "http",
            "payload": {"url": "https://example.test", "json": {"k\u0000": "v"}},
        },
        {
            "type": "noop",
            "schedule": {"run_at": "9999-12-31T23:59:59-23:59", "repeat": "daily"},
        },
        {"type": "noop", "schedule": {"run_at": "9999-12-31T23:59:59Z", "interval_seconds": 1}},
        {"type": "http", "payload": {"url": "https://example.test/" + "\ud800"}},
    ],
    ids=[
        "nul-in-name",
        "nul-in-payload",
        "nul-in-json-key",
        "year-10000",
        "year-9999",
        "surrogate",
    ],
)
def test_edge_inputs_never_fail_the_server(client, user, body):
    raw = json.dumps(body)
    result = post_raw(client, "/jobs/submit", user, raw, "application/json")
    assert result.status_code in {201, 400}, result.text
    if result.status_code == 400:
        assert_error(result, 400)
    else:
        job_id = result.json["id"]
        fetched = client.simulate_get(f"/jobs/{job_id}", headers=user.headers)
        assert fetched.status_code == 200, fetched.text
        upcoming = client.simulate_get(f"/jobs/{job_id}/upcoming", headers=user.headers)
        assert upcoming.status_code == 200, upcoming.text


@pytest.mark.parametrize(
    "name",
    [
        "📅 rapport ünïcode 日本語",
        "'; DROP TABLE jobs; --",
        "Robert'); DELETE FROM users;--",
        "<script>alert(1)</script>",
        "x" * 200,
        "📅" * 200,
        " ",
    ],
    ids=["unicode", "sql", "sql-2", "html", "200-chars", "200-emoji", "space"],
)
def test_unusual_but_valid_names_are_stored_verbatim(client, user, name):
    result = submit(client, user, name=name)
    assert result.status_code == 201, result.text
    assert result.json["name"] == name
    fetched = client.simulate_get(f"/jobs/{result.json['id']}", headers=user.headers)
    assert fetched.json["name"] == name
    assert [job["id"] for job in jobs_listed(client, user, name=name)] == [result.json["id"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 9),
        ("priority", 0),
        ("max_attempts", 100),
        ("max_attempts", 1),
        ("timeout_seconds", 86400),
        ("timeout_seconds", 1),
        ("retry_backoff_seconds", 0),
    ],
)
def test_bounds_are_accepted(client, user, field, value):
    result = submit(client, user, **{field: value})
    assert result.status_code == 201, result.text
    assert result.json[field] == value


def test_run_at_a_little_in_the_past_is_accepted(client, user):
    moment = datetime.now(UTC) - timedelta(minutes=2)
    result = submit(client, user, schedule={"run_at": sent(moment)})
    assert result.status_code == 201, result.text


def test_nulls_mean_defaults(client, user):
    body = {
        "type": "noop",
        "name": None,
        "payload": None,
        "queue": None,
        "priority": None,
        "schedule": None,
    }
    result = client.simulate_post("/jobs/submit", json=body, headers=user.headers)
    # A null may be refused or read as the default, but never crash the server.
    assert result.status_code in {201, 400}, result.text
    if result.status_code == 201:
        assert result.json["queue"] == "default"
        assert result.json["priority"] == 0
        assert result.json["name"] == "noop"


# --- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/jobs/{bad}"),
        ("DELETE", "/jobs/{bad}"),
        ("PUT", "/jobs/{bad}/reschedule"),
        ("GET", "/jobs/{bad}/runs"),
        ("POST", "/jobs/{bad}/pause"),
        ("POST", "/jobs/{bad}/resume"),
        ("POST", "/jobs/{bad}/trigger"),
        ("GET", "/jobs/{bad}/upcoming"),
        ("GET", "/users/{bad}"),
        ("PUT", "/users/{bad}/update"),
        ("DELETE", "/users/{bad}/delete"),
    ],
)
@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "%27%20OR%201%3D1", "0" * 36, "x" * 300])
def test_malformed_ids_in_paths_are_404(client, admin, method, path, bad):
    body = {"run_at": "2030-01-01T00:00:00Z"} if method == "PUT" else None
    result = client.simulate_request(
        method, path.replace("{bad}", bad), json=body, headers=admin.headers
    )
    assert_error(result, 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/jobs/submit"), ("PATCH", "/jobs"), ("POST", "/health")],
)
def test_unknown_routes_and_methods_get_an_error_body(client, user, method, path):
    result = client.simulate_request(method, path, headers=user.headers)
    assert result.status_code in {404, 405}, result.text
    assert_error(result, result.status_code)


@pytest.mark.parametrize(
    "query",
    [
        "name=%ED%A0%80",
        "name=%FF%FE",
        "limit=1&limit=500",
        "limit=%00",
        "cursor=%00",
        "status=scheduled&status=cancelled",
        "limit=%EF%BC%91",
    ],
)
def test_odd_query_strings_never_fail_the_server(client, user, query):
    result = client.simulate_get("/jobs", query_string=query, headers=user.headers)
    assert result.status_code in {200, 400}, result.text
    if result.status_code == 400:
        assert_error(result, 400)


@pytest.mark.parametrize(
    ("raw", "ctype", "status"),
    [
        (b"[]", "application/json", 400),
        (b'"2030-01-01T00:00:00Z"', "application/json", 400),
        (b"{oops", "application/json", 400),
        (b'{"run_at": "2030-01-01T00:00:00Z"}', "text/plain", 415),
    ],
)
def test_reschedule_bad_bodies(client, user, raw, ctype, status):
    job = create_job(client, user)
    result = client.simulate_put(
        f"/jobs/{job['id']}/reschedule",
        body=raw,
        headers={**user.headers, "Content-Type": ctype},
    )
    assert_error(result, status)


def test_a_queue_outside_chronos_queues_is_400_naming_the_known_ones(client, user):
    """H3: submit and batch accept only the deployment's queues (here: default, other)."""
    result = submit(client, user, queue="nobody-home")
    description = assert_error(result, 400, "queue")
    assert description == "queue: unknown queue 'nobody-home'; expected one of default, other"
    batch = client.simulate_post(
        "/jobs/batch",
        json={"jobs": [{"type": "noop", "queue": "other"}, {"type": "noop", "queue": "q1"}]},
        headers=user.headers,
    )
    assert assert_error(batch, 400, "jobs[1].queue").startswith("jobs[1].queue: unknown queue")
    assert jobs_listed(client, user) == []
    assert create_job(client, user, queue="other")["queue"] == "other"
