"""Hostile input, by hand: bodies at and over the size limit, deep nesting, every kind of
unicode, SQL-looking strings, extreme numbers, oversized headers, a login flood, secrets
that must never come back out, schedules at the end of time, and a table of every route
against every abuse case (garbage JSON, wrong types, huge bodies, deep nesting, NUL and
surrogates, foreign cursors, bad ids, huge and repeated query values, odd methods, the
wrong Content-Type).

Every answer is checked for its exact status, and an error for the field it names.
None may be a 500.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine, text

from api import serialize
from api.app import create_app
from shared.settings import Settings
from tests.integration.helpers import assert_error, create_job, jobs_listed, later, sent, submit

LIMIT = 256 * 1024
JSON = "application/json"
# A target no job in these tests ever reaches: nothing dispatches them.
URL = "http://127.0.0.1:9/hostile"


# --- helpers --------------------------------------------------------------------------------


def post_raw(
    client: testing.TestClient,
    path: str,
    raw: bytes | str,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Any:
    return client.simulate_request(
        method, path, body=raw, headers={"Content-Type": JSON, **(headers or {})}
    )


def sized(prefix: str, suffix: str, size: int) -> bytes:
    """``prefix + "x" * n + suffix`` as UTF-8, exactly ``size`` bytes long."""
    padding = size - len(prefix.encode()) - len(suffix.encode())
    assert padding >= 0
    raw = (prefix + "x" * padding + suffix).encode()
    assert len(raw) == size
    return raw


def http_job_of_size(size: int) -> bytes:
    """A valid http job whose JSON text is exactly ``size`` bytes."""
    return sized(f'{{"type": "http", "payload": {{"url": "{URL}", "json": {{"pad": "', '"}}}', size)


class CountingStream:
    """A request body handed out in chunks by a generator, as a chunked upload arrives,
    counting how much of it the server read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = b""
        self.read_bytes = 0

    def _fill(self, enough: Callable[[], bool]) -> None:
        while not enough():
            chunk = next(self.chunks, None)
            if chunk is None:
                return
            self.buffer += chunk

    def _take(self, size: int) -> bytes:
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        self.read_bytes += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            self._fill(lambda: False)
            return self._take(len(self.buffer))
        self._fill(lambda: len(self.buffer) >= size)
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        self._fill(lambda: b"\n" in self.buffer)
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        return self._take(end)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def chunks_of(raw: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def post_stream(
    client: testing.TestClient,
    path: str,
    stream: CountingStream,
    headers: dict[str, str],
) -> Any:
    """POST with ``stream`` as ``wsgi.input``: no body for the TestClient, so it sets no
    Content-Length unless ``headers`` carries one."""
    return client.simulate_post(
        path, headers={"Content-Type": JSON, **headers}, extras={"wsgi.input": stream}
    )


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text of ``depth`` nested containers, alternating objects and arrays."""
    opening = "".join('{"k":' if level % 2 == 0 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    return opening + leaf + closing


def nested_value(depth: int) -> Any:
    value: Any = 1
    for level in reversed(range(depth)):
        value = {"k": value} if level % 2 == 0 else [value]
    return value


def fetch_job(client: testing.TestClient, account: Any, job_id: str) -> dict[str, Any]:
    result = client.simulate_get(f"/jobs/{job_id}", headers=account.headers)
    assert result.status_code == 200, result.text
    return result.json


# --- body size -------------------------------------------------------------------------------


@pytest.fixture
def body_routes(client: testing.TestClient, user: Any) -> list[tuple[str, str]]:
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    return [
        ("POST", "/jobs/submit"),
        ("POST", "/jobs/batch"),
        ("PUT", f"/jobs/{job['id']}/reschedule"),
        ("PUT", f"/users/{user.id}/update"),
        ("POST", "/users/create"),
        ("POST", "/auth/token"),
    ]


def test_a_body_one_byte_over_the_limit_is_413_on_every_route(client, user, body_routes):
    raw = sized('{"pad": "', '"}', LIMIT + 1)
    for method, path in body_routes:
        result = post_raw(client, path, raw, user.headers, method=method)
        assert_error(result, 413, "body")
    assert len(jobs_listed(client, user)) == 1


def test_a_valid_job_one_byte_over_the_limit_is_413(client, user):
    assert_error(post_raw(client, "/jobs/submit", http_job_of_size(LIMIT + 1), user.headers), 413)
    assert jobs_listed(client, user) == []


def test_a_body_exactly_at_the_limit_is_accepted(client, user):
    raw = http_job_of_size(LIMIT)
    result = post_raw(client, "/jobs/submit", raw, user.headers)
    assert result.status_code == 201, result.text[:300]
    assert result.json["payload"]["json"] == json.loads(raw)["payload"]["json"]


def test_a_body_exactly_at_the_limit_is_judged_on_its_content(client, user):
    raw = sized('{"type": "noop", "name": "', '"}', LIMIT)
    assert_error(post_raw(client, "/jobs/submit", raw, user.headers), 400, "name")


@pytest.mark.parametrize("length", [LIMIT + 1, 10**23])
def test_a_content_length_over_the_limit_is_413_whatever_the_body(client, user, length):
    headers = {**user.headers, "Content-Length": str(length)}
    stream = CountingStream(chunks_of(b'{"type": "noop"}'))
    assert_error(post_stream(client, "/jobs/submit", stream, headers), 413, "body")
    assert stream.read_bytes == 0
    assert jobs_listed(client, user) == []


def test_a_stream_longer_than_its_content_length_is_read_only_that_far(client, user):
    announced = b'{"type": "noop"}'
    stream = CountingStream(chunks_of(announced + b" " * (4 * LIMIT)))
    headers = {**user.headers, "Content-Length": str(len(announced))}
    result = post_stream(client, "/jobs/submit", stream, headers)
    assert result.status_code == 201, result.text
    assert stream.read_bytes == len(announced)


def test_an_oversized_stream_without_content_length_is_refused_unread(client, user):
    """A chunked upload carries no Content-Length. The server must neither buffer it
    whole nor accept it: it reads at most one byte over the limit and refuses it."""
    stream = CountingStream(chunks_of(http_job_of_size(4 * LIMIT)))
    result = post_stream(client, "/jobs/submit", stream, user.headers)
    assert result.status_code in {400, 413}, result.text
    assert_error(result, result.status_code, "body")
    assert stream.read_bytes <= LIMIT + 1
    assert jobs_listed(client, user) == []


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 66, 1000])
def test_json_nested_deeper_than_64_levels_is_400_naming_body(client, user, depth):
    # The top-level object is level one.
    raw = '{"type": "noop", "name": ' + nested(depth - 1, '"x"') + "}"
    assert_error(post_raw(client, "/jobs/submit", raw, user.headers), 400, "body")


def test_json_nested_exactly_64_levels_is_judged_on_its_content(client, user):
    # body (1) > payload (2) > json (3) > 61 more levels: 64 in all.
    raw = json.dumps({"type": "http", "payload": {"url": URL, "json": nested_value(61)}})
    result = post_raw(client, "/jobs/submit", raw, user.headers)
    assert result.status_code == 201, result.text


def test_a_payload_json_nested_60_levels_is_accepted_and_returned_whole(client, user):
    value = nested_value(60)
    job = create_job(client, user, type="http", payload={"url": URL, "json": value})
    assert job["payload"]["json"] == value
    assert fetch_job(client, user, job["id"])["payload"]["json"] == value


def test_brackets_inside_strings_do_not_count_as_nesting(client, user):
    message = '[{"\\' * 1000
    job = create_job(client, user, type="fail", payload={"message": message})
    assert fetch_job(client, user, job["id"])["payload"]["message"] == message


# --- unicode --------------------------------------------------------------------------------

UNICODE = {
    "emoji": "📅 report 🚀",
    "zwj-sequence": "family 👨\u200d👩\u200d👧 flag 🇩🇪",
    "rtl-marks": "\u202eevil\u202c \u200f\u05e9\u05dc\u05d5\u05dd\u200e "
    "\u0645\u0631\u062d\u0628\u0627",
    "combining": "e\u0301 a\u0308 Z\u0335\u0321\u0354",
    "four-byte": "\U0001d54f \U00010348 \U0002070e \U0010fffd",
    "bom-and-zero-width": "\ufeffstart\u200bmiddle\u2060end",
    "cjk-and-fullwidth": "日本語 \uff46\uff55\uff4c\uff4c",
}


def assert_same_text(got: str, sent_text: str) -> None:
    """Byte-identical: no normalization (NFC would fold e + U+0301 into é)."""
    assert got.encode("utf-8") == sent_text.encode("utf-8")


@pytest.mark.parametrize("label", list(UNICODE))
def test_unicode_in_names_and_payload_strings_is_returned_byte_identical(client, user, label):
    value = UNICODE[label]
    name = f"{value} {uuid.uuid4().hex[:8]}"
    fail = create_job(client, user, name=name, type="fail", payload={"message": value})
    http = create_job(
        client,
        user,
        type="http",
        payload={"url": URL, "headers": {"X-Note": "latin-1 caf\u00e9"}, "json": {value: [value]}},
    )
    # HTTP/1.1 header values are Latin-1: any other text is refused at submit (M8),
    # where it used to fail every run, and the error does not show it.
    refused = submit(client, user, type="http", payload={"url": URL, "headers": {"X-Note": value}})
    assert value not in assert_error(refused, 400, "payload.headers.X-Note")
    email = create_job(
        client,
        user,
        type="email",
        payload={"to": ["ops@example.test"], "subject": value, "body": value},
    )
    stored = fetch_job(client, user, fail["id"])
    assert_same_text(stored["name"], name)
    assert_same_text(stored["payload"]["message"], value)
    assert stored == fail
    assert fetch_job(client, user, http["id"])["payload"]["json"] == {value: [value]}
    assert_same_text(
        fetch_job(client, user, http["id"])["payload"]["headers"]["X-Note"], "latin-1 caf\u00e9"
    )
    stored_email = fetch_job(client, user, email["id"])["payload"]
    assert_same_text(stored_email["subject"], value)
    assert_same_text(stored_email["body"], value)
    assert [job["id"] for job in jobs_listed(client, user, name=name)] == [fail["id"]]


def test_unicode_escapes_and_raw_utf8_are_the_same_text(client, user):
    value = "📅 e\u0301 \u202e"
    escaped = json.dumps({"type": "noop", "name": value}, ensure_ascii=True)
    raw = json.dumps({"type": "noop", "name": value}, ensure_ascii=False).encode("utf-8")
    first = post_raw(client, "/jobs/submit", escaped, user.headers)
    second = post_raw(client, "/jobs/submit", raw, user.headers)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert_same_text(first.json["name"], value)
    assert_same_text(second.json["name"], value)


def test_a_lone_surrogate_escape_in_a_name_is_400_naming_it(client, user):
    raw = '{"type": "noop", "name": "half \\ud83d a pair"}'
    assert_error(post_raw(client, "/jobs/submit", raw, user.headers), 400, "name")


def test_invalid_utf8_bytes_are_400_naming_body(client, user):
    raw = b'{"type": "noop", "name": "\xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80"}'
    assert_error(post_raw(client, "/jobs/submit", raw, user.headers), 400, "body")


@pytest.mark.parametrize(
    "queue",
    ["défault", "默认", "q📅", "\uff11\uff12\uff13", "queue\u200b", "default\n", "DEFAULT", "ǆ"],
)
def test_a_queue_outside_ascii_a_z_0_9_is_400_naming_queue(client, user, queue):
    assert_error(submit(client, user, queue=queue), 400, "queue")
    assert jobs_listed(client, user) == []


@pytest.mark.parametrize(
    "username",
    [
        "jösé",
        "\uff41\uff44\uff4d\uff49\uff4e",
        "\u0430dmin",
        "admin\u200b",
        "user📅",
        "alice\n",
        "bob\u0301",
    ],
    ids=["latin", "fullwidth", "cyrillic-a", "zero-width", "emoji", "newline", "combining"],
)
def test_a_username_outside_ascii_is_400_naming_username(client, user, username):
    created = client.simulate_post(
        "/users/create", json={"username": username, "password": "long enough password"}
    )
    assert_error(created, 400, "username")
    updated = client.simulate_put(
        f"/users/{user.id}/update", json={"username": username}, headers=user.headers
    )
    assert_error(updated, 400, "username")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("type", "nöop", "type"),
        ("type", "noop\u200b", "type"),
        ("schedule", {"timezone": "Europe/Bérlin"}, "schedule.timezone"),
        ("schedule", {"timezone": "UTC\u202e"}, "schedule.timezone"),
        ("schedule", {"cron": "\uff10 \uff19 * * *"}, "schedule.cron"),
        ("schedule", {"cron": "0 9 * * \u0661"}, "schedule.cron"),
        ("schedule", {"run_at": "\uff12\uff10\uff13\uff10-01-01T00:00:00Z"}, "schedule.run_at"),
    ],
)
def test_unicode_where_only_ascii_makes_sense_is_400_naming_the_field(
    client, user, field, value, named
):
    assert_error(submit(client, user, **{field: value}), 400, named)
    assert jobs_listed(client, user) == []


def test_unicode_email_and_password_round_trip_without_normalization(client):
    username = f"uni{uuid.uuid4().hex[:10]}"
    password = "pässwörd 📅 e\u0301 \u202e"
    email = "ünï.cödé@exämple.test"
    created = client.simulate_post(
        "/users/create", json={"username": username, "password": password, "email": email}
    )
    assert created.status_code == 201, created.text
    assert_same_text(created.json["user"]["email"], email)
    login = client.simulate_post("/auth/token", json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    # The same text in NFC (é as one code point) is a different password.
    normalized = password.replace("e\u0301", "\u00e9")
    wrong = client.simulate_post("/auth/token", json={"username": username, "password": normalized})
    assert_error(wrong, 401)


# --- SQL-looking strings ----------------------------------------------------------------------

SQL = [
    "'; DROP TABLE jobs; --",
    '" OR 1=1 --',
    "1' OR '1'='1",
    "x'); DELETE FROM users WHERE ('a'='a",
    "\\'; TRUNCATE runs; --",
    "%",
    "_",
]


def assert_tables_intact(engine: Engine) -> None:
    with engine.connect() as conn:
        for table in ("jobs", "runs", "users"):
            assert conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() >= 0


@pytest.mark.parametrize("value", SQL)
def test_sql_in_names_payloads_and_filters_is_data(client, user, admin, engine, value):
    bystander = create_job(client, user, name="bystander")
    job = create_job(
        client,
        user,
        name=value,
        type="http",
        payload={"url": URL, "headers": {"X-Sql": value}, "json": {value: value}},
    )
    assert job["name"] == value
    stored = fetch_job(client, user, job["id"])
    assert stored["payload"]["json"] == {value: value}
    assert stored["payload"]["headers"] == {"X-Sql": value}
    # Filters match exactly: no injection, and no LIKE wildcards.
    assert [item["id"] for item in jobs_listed(client, user, name=value)] == [job["id"]]
    assert jobs_listed(client, user, queue=value) == []
    assert jobs_listed(client, user, type=value) == []
    audit = client.simulate_get("/audit", params={"object_id": value}, headers=admin.headers)
    assert audit.json == {"items": [], "next_cursor": None}
    for param in ("actor", "action"):
        answer = client.simulate_get("/audit", params={param: value}, headers=admin.headers)
        assert_error(answer, 400, param)
    assert_error(
        client.simulate_get("/jobs", params={"status": value}, headers=user.headers),
        400,
        "status",
    )
    assert_error(
        client.simulate_get("/jobs", params={"cursor": value}, headers=user.headers),
        400,
        "cursor",
    )
    assert_error(
        client.simulate_get("/jobs", params={"limit": f"1 {value}"}, headers=user.headers),
        400,
        "limit",
    )
    assert {item["id"] for item in jobs_listed(client, user)} == {bystander["id"], job["id"]}
    assert_tables_intact(engine)


@pytest.mark.parametrize("value", SQL[:3])
def test_sql_as_a_username_is_refused_at_signup_and_login(client, user, engine, value):
    created = client.simulate_post(
        "/users/create", json={"username": value, "password": value + " padding"}
    )
    assert_error(created, 400, "username")
    # At login it is just an unknown username; the real user's password does not help.
    login = client.simulate_post("/auth/token", json={"username": value, "password": value})
    assert_error(login, 401)
    assert login.headers["WWW-Authenticate"] == "Bearer"
    assert client.simulate_get(f"/users/{user.id}", headers=user.headers).status_code == 200
    assert_tables_intact(engine)


# --- numbers --------------------------------------------------------------------------------

EXTREMES = ["-1", str(-(10**30)), str(10**30), "1e308", "-1e308", "1e999", "0.5"]
NUMERIC_FIELDS = [
    ('{"type": "noop", "priority": %s}', "priority"),
    ('{"type": "noop", "max_attempts": %s}', "max_attempts"),
    ('{"type": "noop", "timeout_seconds": %s}', "timeout_seconds"),
    ('{"type": "noop", "retry_backoff_seconds": %s}', "retry_backoff_seconds"),
    ('{"type": "noop", "schedule": {"interval_seconds": %s}}', "schedule.interval_seconds"),
    ('{"type": "noop", "schedule": {"cron": "* * * * *", "max_runs": %s}}', "schedule.max_runs"),
    ('{"type": "sleep", "payload": {"seconds": %s}}', "payload.seconds"),
    (
        '{"type": "http", "payload": {"url": "' + URL + '", "timeout_seconds": %s}}',
        "payload.timeout_seconds",
    ),
]
# Payload durations are numbers, not integers: half a second is fine there.
FRACTIONS_ALLOWED = {"payload.seconds", "payload.timeout_seconds"}


@pytest.mark.parametrize(
    ("template", "field", "number"),
    [
        pytest.param(template, field, number, id=f"{field}={number}")
        for template, field in NUMERIC_FIELDS
        for number in EXTREMES
        if not (number == "0.5" and field in FRACTIONS_ALLOWED)
    ],
)
def test_out_of_range_numbers_are_400_naming_the_field(client, user, template, field, number):
    result = post_raw(client, "/jobs/submit", template % number, user.headers)
    assert_error(result, 400, field)


@pytest.mark.parametrize("zero", ["-0", "-0.0", "0e5"])
def test_negative_zero_is_zero(client, user, zero):
    result = post_raw(
        client, "/jobs/submit", f'{{"type": "noop", "priority": {zero}}}', user.headers
    )
    assert result.status_code == 201, result.text
    assert result.json["priority"] == 0


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "noop", "priority": -Infinity}',
        '{"type": "noop", "schedule": {"max_runs": Infinity}}',
        '{"type": "http", "payload": {"url": "' + URL + '", "json": [1, NaN]}}',
        '{"jobs": [{"type": "noop", "priority": NaN}]}',
    ],
    ids=["minus-infinity", "infinity-nested", "nan-in-payload", "nan-in-batch"],
)
def test_nan_and_infinity_literals_are_not_json(client, user, raw):
    path = "/jobs/batch" if raw.startswith('{"jobs"') else "/jobs/submit"
    assert_error(post_raw(client, path, raw, user.headers), 400, "body")
    assert jobs_listed(client, user) == []


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
@pytest.mark.parametrize("path", ["/jobs/submit", "/jobs/batch"])
def test_a_number_too_big_for_a_float_inside_payload_json_is_refused_cleanly(
    client, user, path, number
):
    """``1e999`` is valid JSON text, but Python reads it as infinity, which PostgreSQL's
    JSONB cannot hold: it must be refused up front (400), not fail at the database."""
    job = f'{{"type": "http", "payload": {{"url": "{URL}", "json": {{"v": {number}}}}}}}'
    raw = job if path == "/jobs/submit" else f'{{"jobs": [{job}]}}'
    result = post_raw(client, path, raw, user.headers)
    assert_error(result, 400, "payload", "body")
    assert jobs_listed(client, user) == []


@pytest.mark.parametrize("number", [10**30, -(10**30), 1e308, -1e-308, 2**63, 0.1])
def test_huge_and_tiny_numbers_inside_payload_json_are_stored(client, user, number):
    job = create_job(client, user, type="http", payload={"url": URL, "json": {"v": number}})
    stored = fetch_job(client, user, job["id"])["payload"]["json"]["v"]
    assert stored == pytest.approx(number, rel=1e-15)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "-1"),
        ("limit", "0"),
        ("limit", str(10**30)),
        ("limit", "1e308"),
        ("limit", "NaN"),
        ("limit", "Infinity"),
        ("limit", "9" * 5000),
        ("count", "-1"),
        ("count", str(10**30)),
        ("count", "1e308"),
        ("count", "NaN"),
    ],
)
def test_extreme_numbers_in_query_parameters_are_400_naming_them(client, user, param, value):
    job = create_job(client, user, schedule={"cron": "*/5 * * * *"})
    path = f"/jobs/{job['id']}/upcoming" if param == "count" else "/jobs"
    result = client.simulate_get(path, params={param: value}, headers=user.headers)
    assert_error(result, 400, param)


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [256, 1000, 100_000])
def test_an_idempotency_key_over_255_characters_is_400_naming_it(client, user, length):
    result = submit(client, user, headers={"Idempotency-Key": "k" * length})
    assert_error(result, 400, "Idempotency-Key")
    assert jobs_listed(client, user) == []


def test_an_idempotency_key_of_255_characters_is_accepted(client, user):
    key = "k" * 255
    first = submit(client, user, headers={"Idempotency-Key": key})
    again = submit(client, user, headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert first.json["id"] == again.json["id"]


@pytest.mark.parametrize(
    "value", ["Bearer " + "a" * 100_000, "Bearer " + "a.b." * 25_000, "x" * 100_000]
)
def test_a_100_kb_authorization_header_is_401(client, value):
    result = client.simulate_get("/jobs", headers={"Authorization": value})
    assert_error(result, 401, "Authorization")
    assert result.headers["WWW-Authenticate"] == "Bearer"


def test_a_huge_unrelated_header_is_ignored(client, user):
    result = submit(client, user, headers={"X-Padding": "p" * 100_000})
    assert result.status_code == 201, result.text


# --- login flood ------------------------------------------------------------------------------


@pytest.fixture
def limited_client(settings: Settings, engine: Engine) -> testing.TestClient:
    limited = dataclasses.replace(settings, login_failures_per_user=5)
    return testing.TestClient(create_app(limited, engine=engine))


def login(client: testing.TestClient, username: str, password: str, address: str) -> Any:
    return client.simulate_post(
        "/auth/token", json={"username": username, "password": password}, remote_addr=address
    )


def test_a_flood_of_100_wrong_passwords_for_one_user_is_throttled(
    limited_client, make_user: Callable[..., Any]
):
    account = make_user()
    address = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    answers = [login(limited_client, account.username, "wrong!", address) for _ in range(100)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 95
    for answer in answers[5:]:
        assert_error(answer, 429, "username")
        assert 1 <= int(answer.headers["Retry-After"]) <= 15 * 60
    # The user's own tokens still work: only logging in is held back.
    assert limited_client.simulate_get("/jobs", headers=account.headers).status_code == 200


def test_a_flood_over_mixed_usernames_counts_each_username_apart(
    limited_client, make_user: Callable[..., Any]
):
    victim, bystander = make_user(), make_user()
    address = f"198.19.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    # The same username in other letter cases shares one counter.
    casings = [victim.username, victim.username.upper(), victim.username.capitalize()]
    statuses = [
        login(limited_client, casings[i % 3], "wrong!", address).status_code for i in range(9)
    ]
    assert statuses == [401] * 5 + [429] * 4
    # Another username from the same address, right after, is not locked out...
    assert login(limited_client, bystander.username, bystander.password, address).status_code == 200
    # ...nor is an unknown one, which gets the same 401 as a wrong password.
    unknown = f"ghost{uuid.uuid4().hex[:8]}"
    assert_error(login(limited_client, unknown, "wrong!", address), 401)


# --- secrets never leak -------------------------------------------------------------------------


def test_no_response_or_log_line_carries_a_password_a_hash_or_the_jwt_secret(
    client, settings, make_user, caplog
):
    caplog.set_level(logging.DEBUG)
    password = f"secret-{uuid.uuid4().hex}"
    new_password = f"renewed-{uuid.uuid4().hex}"
    username = f"leak{uuid.uuid4().hex[:10]}"
    admin = make_user(role="admin")
    answers = []

    def keep(result: Any) -> Any:
        answers.append(result)
        return result

    created = keep(
        client.simulate_post("/users/create", json={"username": username, "password": password})
    )
    assert created.status_code == 201, created.text
    user_id = created.json["user"]["id"]
    headers = {"Authorization": f"Bearer {created.json['token']}"}
    keep(client.simulate_post("/users/create", json={"username": username, "password": password}))
    keep(client.simulate_post("/users/create", json={"username": "x", "password": password}))
    keep(client.simulate_post("/users/create", json={"username": username, "password": "short"}))
    keep(client.simulate_post("/auth/token", json={"username": username, "password": password}))
    keep(client.simulate_post("/auth/token", json={"username": username, "password": "nope1234"}))
    keep(client.simulate_post("/auth/token", json={"username": password, "password": password}))
    keep(client.simulate_post("/auth/token", json={"username": username, "pass": password}))
    keep(client.simulate_get(f"/users/{user_id}", headers=headers))
    keep(client.simulate_get(f"/users/{user_id}", headers=admin.headers))
    keep(
        client.simulate_put(
            f"/users/{user_id}/update", json={"password": new_password}, headers=headers
        )
    )
    keep(
        client.simulate_put(
            f"/users/{user_id}/update", json={"password": password, "role": "x"}, headers=headers
        )
    )
    keep(client.simulate_post("/jobs/submit", json={"type": "noop"}, headers=headers))
    keep(client.simulate_get("/jobs", headers={"Authorization": f"Bearer {password}"}))
    keep(client.simulate_get("/jobs", headers={"Authorization": f"Bearer {settings.jwt_secret}"}))
    keep(client.simulate_get("/nowhere", headers=headers))
    keep(client.simulate_get("/metrics"))
    keep(client.simulate_get("/openapi.json"))
    keep(client.simulate_delete(f"/users/{user_id}/delete", headers=headers))
    keep(client.simulate_get("/audit", params={"actor": user_id}, headers=admin.headers))
    keep(client.simulate_get("/audit", params={"object_id": user_id}, headers=admin.headers))

    statuses = [answer.status_code for answer in answers]
    assert 500 not in statuses, statuses
    forbidden = [password, new_password, "$argon2", settings.jwt_secret]
    for answer in answers:
        seen = answer.text + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret in forbidden:
            assert secret not in seen, (answer.status_code, answer.text[:300])
    for record in caplog.records:
        line = record.getMessage() + str(record.args)
        for secret in forbidden:
            assert secret not in line, line


# --- large collections ------------------------------------------------------------------------


def test_a_payload_json_of_1000_keys_is_accepted_whole(client, user):
    value = {f"key-{index}": index for index in range(1000)}
    job = create_job(client, user, type="http", payload={"url": URL, "json": value})
    assert fetch_job(client, user, job["id"])["payload"]["json"] == value


def test_a_payload_json_array_of_10000_elements_is_accepted_whole(client, user):
    value = list(range(10_000))
    raw = json.dumps({"type": "http", "payload": {"url": URL, "json": value}})
    assert len(raw) < LIMIT
    result = post_raw(client, "/jobs/submit", raw, user.headers)
    assert result.status_code == 201, result.text[:300]
    assert fetch_job(client, user, result.json["id"])["payload"]["json"] == value


def test_an_object_of_10000_unknown_top_level_keys_is_400(client, user):
    raw = json.dumps({"type": "noop", **{f"k{index}": index for index in range(10_000)}})
    assert len(raw) < LIMIT
    assert_error(post_raw(client, "/jobs/submit", raw, user.headers), 400, "k0")


# --- the far future (review L2) ------------------------------------------------------------------

FAR_CRON_EAST = {"run_at": "9999-12-31T10:00:00Z", "cron": "0 0 * * *", "timezone": "Etc/GMT-14"}
FAR_SCHEDULES = [
    {"run_at": "9999-12-31T23:59:59.999Z", "interval_seconds": 1},
    {"run_at": "9999-12-29T00:00:00Z", "cron": "0 0 * * *", "timezone": "Etc/GMT-14"},
    {"run_at": "9999-12-31T10:00:00Z", "repeat": "monthly", "timezone": "Pacific/Kiritimati"},
    {"run_at": "9999-12-31T23:00:00Z", "repeat": "hourly", "max_runs": 2147483647},
    {"run_at": "9999-12-31T12:00:00Z", "cron": "* * * * *", "end_at": "9999-12-31T23:59:59Z"},
]


def test_a_cron_with_no_match_before_the_year_10000_is_400_naming_run_at(client, user):
    """The review's reproduction, a 500 before."""
    assert_error(submit(client, user, schedule=FAR_CRON_EAST), 400, "schedule.run_at")
    raw = json.dumps({"jobs": [{"type": "noop"}, {"type": "noop", "schedule": FAR_CRON_EAST}]})
    assert_error(post_raw(client, "/jobs/batch", raw, user.headers), 400, "jobs[1].schedule.run_at")
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1)), "repeat": "daily"})
    result = client.simulate_put(
        f"/jobs/{job['id']}/reschedule", json=FAR_CRON_EAST, headers=user.headers
    )
    assert_error(result, 400, "run_at")
    assert jobs_listed(client, user) == [fetch_job(client, user, job["id"])]


@pytest.mark.parametrize("schedule", FAR_SCHEDULES)
def test_schedules_that_run_out_at_9999_are_stored_listed_and_counted(client, user, schedule):
    job = create_job(client, user, schedule=schedule)
    assert job["next_run_at"].startswith("9999-12-")
    upcoming = client.simulate_get(
        f"/jobs/{job['id']}/upcoming", params={"count": "100"}, headers=user.headers
    )
    assert upcoming.status_code == 200, upcoming.text
    items = upcoming.json["items"]
    assert 1 <= len(items) <= 100
    assert all(item.startswith("9999-12-") for item in items)
    assert items == sorted(items)
    for action in ("pause", "resume"):
        assert (
            client.simulate_post(f"/jobs/{job['id']}/{action}", headers=user.headers).status_code
            == 200
        )
    moved = client.simulate_put(
        f"/jobs/{job['id']}/reschedule", json=schedule, headers=user.headers
    )
    assert moved.status_code == 200, moved.text
    assert [item["id"] for item in jobs_listed(client, user)] == [job["id"]]


# --- every route x every abuse case ---------------------------------------------------------------
#
# One table: each route the API serves, each way a client can abuse a request, and what
# must come back. Where a case does not apply to a route (a body on a route that reads
# none, a query parameter it does not know), the route may ignore it, but it still may
# not answer 5xx, and any error is in the documented shape. Admin-only routes are sent
# as an admin, so that the abuse, not the 403, decides the answer.

ADMIN_ONLY = {"/audit"}

BODY, PAGED, UPCOMING, PLAIN = "body", "paged", "upcoming", "plain"
ROUTES = [
    ("POST", "/users/create", BODY),
    ("POST", "/auth/token", BODY),
    ("GET", "/users/{user}", PLAIN),
    ("PUT", "/users/{user}/update", BODY),
    ("DELETE", "/users/{user}/delete", PLAIN),
    ("GET", "/jobs", PAGED),
    ("POST", "/jobs/submit", BODY),
    ("POST", "/jobs/batch", BODY),
    ("GET", "/jobs/{job}", PLAIN),
    ("DELETE", "/jobs/{job}", PLAIN),
    ("PUT", "/jobs/{job}/reschedule", BODY),
    ("GET", "/jobs/{job}/runs", PAGED),
    ("POST", "/jobs/{job}/pause", PLAIN),
    ("POST", "/jobs/{job}/resume", PLAIN),
    ("POST", "/jobs/{job}/trigger", PLAIN),
    ("GET", "/jobs/{job}/upcoming", UPCOMING),
    ("GET", "/audit", PAGED),
    ("GET", "/health", PLAIN),
    ("GET", "/ready", PLAIN),
    ("GET", "/metrics", PLAIN),
    ("GET", "/openapi.json", PLAIN),
    ("GET", "/docs", PLAIN),
]
FORGED_CURSOR = serialize.cursors("not-the-server-secret-" + "z" * 32, "jobs:x").encode(
    {"created_at": datetime(2026, 1, 1, tzinfo=UTC), "id": uuid.UUID(int=1)}
)
OLD_STYLE_CURSOR = "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgMV0"  # ["2026-…", 1]: a 500 once


@dataclasses.dataclass(frozen=True)
class Abuse:
    """One abuse of a request: what it changes, and what a route of each kind answers
    (``None``: the route may ignore it; it must still not be a 5xx)."""

    body: bytes | None = None
    content_type: str = JSON
    query: str = ""
    method: str | None = None
    path_id: str | None = None
    expect: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)


ALL_KINDS = (BODY, PAGED, UPCOMING, PLAIN)
ABUSES = {
    "garbage-json": Abuse(body=b'{"type": "noop",, ]', expect={BODY: (400, "body")}),
    "truncated-json": Abuse(body=b'{"type": "no', expect={BODY: (400, "body")}),
    "not-utf8": Abuse(body=b'{"name": "\xff\xfe"}', expect={BODY: (400, "body")}),
    "array-body": Abuse(body=b"[1, 2, 3]", expect={BODY: (400, "body")}),
    "string-body": Abuse(body=b'"just a string"', expect={BODY: (400, "body")}),
    "null-body": Abuse(body=b"null", expect={BODY: (400, "body")}),
    "wrong-types": Abuse(
        body=b'{"type": 5, "username": ["x"], "password": {}, "jobs": "x", "run_at": 1}',
        expect={BODY: (400, "")},
    ),
    "huge-body": Abuse(body=b'{"pad": "' + b"x" * LIMIT + b'"}', expect={BODY: (413, "body")}),
    "deep-nesting": Abuse(body=nested(1000).encode(), expect={BODY: (400, "body")}),
    "nul": Abuse(body=b'{"name": "a\\u0000b", "username": "a\\u0000b"}', expect={BODY: (400, "")}),
    "lone-surrogate": Abuse(
        body=b'{"name": "\\ud800", "username": "\\udfff"}', expect={BODY: (400, "")}
    ),
    "nan": Abuse(body=b'{"priority": NaN}', expect={BODY: (400, "body")}),
    "text-plain": Abuse(
        body=b'{"type": "noop"}', content_type="text/plain", expect={BODY: (415, "Content-Type")}
    ),
    "form-encoded": Abuse(
        body=b"type=noop",
        content_type="application/x-www-form-urlencoded",
        expect={BODY: (415, "Content-Type")},
    ),
    "no-content-type": Abuse(
        body=b'{"type": "noop"}', content_type="", expect={BODY: (415, "Content-Type")}
    ),
    "forged-cursor": Abuse(query=f"cursor={FORGED_CURSOR}", expect={PAGED: (400, "cursor")}),
    "old-style-cursor": Abuse(query=f"cursor={OLD_STYLE_CURSOR}", expect={PAGED: (400, "cursor")}),
    "huge-limit": Abuse(
        query="limit=" + "9" * 5000 + "&count=" + "9" * 5000,
        expect={PAGED: (400, "limit"), UPCOMING: (400, "count")},
    ),
    "huge-unknown-param": Abuse(query="x=" + "y" * 100_000),
    "repeated-params": Abuse(
        query="limit=1&limit=2&count=1&count=2&cursor=a&cursor=b",
        expect={PAGED: (400, "limit"), UPCOMING: (400, "count")},
    ),
    "nul-in-query": Abuse(
        query="cursor=%00&count=%00&limit=%00", expect={PAGED: (400, ""), UPCOMING: (400, "count")}
    ),
    # Falcon refuses a method outside HTTP's usual set before routing: 400.
    "unknown-method": Abuse(method="BREW", expect=dict.fromkeys(ALL_KINDS, (400, "method"))),
    "lowercase-method": Abuse(method="get", expect=dict.fromkeys(ALL_KINDS, (400, "method"))),
    # No route here takes PATCH.
    "wrong-method": Abuse(method="PATCH", expect=dict.fromkeys(ALL_KINDS, (405, "method"))),
    "bad-uuid": Abuse(path_id="not-a-uuid"),
    "uuid-like-garbage": Abuse(path_id="00000000-0000-0000-0000-00000000000g"),
    "path-traversal-id": Abuse(path_id="..%2F..%2Fetc%2Fpasswd"),
    "unknown-uuid": Abuse(path_id=str(uuid.UUID(int=7))),
}


TABLE = [
    pytest.param(method, template, kind, name, id=f"{method} {template} {name}")
    for method, template, kind in ROUTES
    for name, abuse in ABUSES.items()
    # An abuse of the id in a path needs a route with one.
    if abuse.path_id is None or "{" in template
]


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")
@pytest.mark.parametrize(("method", "template", "kind", "abuse_name"), TABLE)
def test_every_route_answers_every_abuse_with_a_documented_4xx(
    client, user, admin, method, template, kind, abuse_name
):
    abuse = ABUSES[abuse_name]
    caller = admin if template in ADMIN_ONLY else user
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1)), "repeat": "daily"})
    ids = {"user": user.id, "job": job["id"]}
    if abuse.path_id is not None:
        ids = dict.fromkeys(ids, abuse.path_id)
    path = template.format(**ids)
    headers = {**caller.headers}
    if abuse.content_type:
        headers["Content-Type"] = abuse.content_type
    # Its own address, so that no throttle of another test decides the answer.
    address = f"203.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    result = client.simulate_request(
        abuse.method or method,
        path,
        query_string=abuse.query or None,
        body=abuse.body,
        headers=headers,
        remote_addr=address,
    )
    assert result.status_code < 500, (result.status_code, result.text[:300])
    if abuse.path_id is not None:
        assert_error(result, 404)
    elif kind in abuse.expect:
        status, field = abuse.expect[kind]
        if field:
            assert_error(result, status, field)
        else:
            assert_error(result, status)
    elif result.status_code >= 400:
        assert_error(result, result.status_code)
