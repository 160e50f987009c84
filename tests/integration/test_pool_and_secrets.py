"""The API's database pool under pressure, and what an unexpected database error logs.

- Every pooled connection taken: the API answers 503 with Retry-After within about a
  second, not a 500 after SQLAlchemy's 30 s (review L3).
- A client uploading a body holds no pooled connection while it does (review L3).
- An unexpected database error is logged without the statement's parameters, which may
  carry a job's payload and its secrets (review L9).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine

from api.app import API_POOL_TIMEOUT_SECONDS, api_engine, create_app
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.helpers import assert_error, execute


@pytest.fixture
def small_pool(settings: Settings) -> Iterator[Engine]:
    """The API's own engine, with one pooled connection and one overflow."""
    engine = api_engine(settings, pool_size=1)
    yield engine
    engine.dispose()


@contextlib.contextmanager
def every_connection_taken(engine: Engine) -> Iterator[None]:
    held = [engine.connect() for _ in range(2)]
    try:
        yield
    finally:
        for conn in held:
            conn.close()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_an_exhausted_pool_is_503_with_retry_after_within_about_a_second(
    settings: Settings, small_pool: Engine, user: Account
) -> None:
    client = testing.TestClient(create_app(settings, engine=small_pool))
    requests = [
        lambda: client.simulate_get("/jobs", headers=user.headers),
        lambda: client.simulate_post("/jobs/submit", json={"type": "noop"}, headers=user.headers),
        lambda: client.simulate_post(
            "/auth/token", json={"username": user.username, "password": "wrong password"}
        ),
    ]
    with every_connection_taken(small_pool):
        for call in requests:
            result, took = timed(call)
            assert_error(result, 503, "database")
            assert result.headers["Retry-After"] == "1"
            assert took < API_POOL_TIMEOUT_SECONDS + 1.5, took
        ready, took = timed(lambda: client.simulate_get("/ready"))
        assert_error(ready, 503, "database")
        assert took < API_POOL_TIMEOUT_SECONDS + 1.5, took
    # Once connections are free again, the same requests succeed.
    assert client.simulate_get("/jobs", headers=user.headers).status_code == 200


class WatchedUpload:
    """A request body that notes, as each piece is read, how many connections the
    engine has checked out."""

    def __init__(self, body: bytes, engine: Engine) -> None:
        self.body = body
        self.engine = engine
        self.checked_out: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.checked_out.append(self.engine.pool.checkedout())  # type: ignore[attr-defined]
        if size is None or size < 0:
            size = len(self.body)
        piece, self.body = self.body[:size], self.body[size:]
        return piece

    # What a WSGI input must also have; the API reads with read() only.
    def readline(self, size: int | None = -1) -> bytes:
        return self.read(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self.read()]

    def __iter__(self) -> Iterator[bytes]:
        return iter([self.read()])


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/jobs/submit"), ("POST", "/jobs/batch"), ("PUT", "update")]
)
def test_no_connection_is_held_while_the_body_uploads(
    settings: Settings, small_pool: Engine, user: Account, method: str, path: str
) -> None:
    client = testing.TestClient(create_app(settings, engine=small_pool))
    if path == "update":
        path, body = f"/users/{user.id}/update", b'{"email": "upload@example.test"}'
    elif path == "/jobs/batch":
        body = b'{"jobs": [{"type": "noop"}]}'
    else:
        body = b'{"type": "noop"}'
    upload = WatchedUpload(body, small_pool)
    result = client.simulate_request(
        method,
        path,
        headers={
            **user.headers,
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        },
        extras={"wsgi.input": upload},
    )
    assert result.status_code in {200, 201}, result.text
    assert upload.checked_out, "the body was never read"
    assert set(upload.checked_out) == {0}, upload.checked_out


@pytest.fixture
def failing_insert(engine: Engine) -> Iterator[str]:
    """A trigger that fails the insert of one job, by name, with an error that is not an
    OperationalError: an "unexpected" database error, as a bug or a constraint would be."""
    name = f"l9-{uuid.uuid4().hex}"
    function = f"fail_{uuid.uuid4().hex[:12]}"
    execute(
        engine,
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$",
    )
    execute(
        engine,
        f"CREATE TRIGGER {function} BEFORE INSERT ON jobs FOR EACH ROW "
        f"WHEN (NEW.name = '{name}') EXECUTE FUNCTION {function}()",
    )
    try:
        yield name
    finally:
        execute(engine, f"DROP TRIGGER {function} ON jobs")
        execute(engine, f"DROP FUNCTION {function}()")


def test_an_unexpected_database_error_logs_no_payload_secret(
    client: testing.TestClient, user: Account, failing_insert: str, caplog: Any
) -> None:
    secret = f"sk_live_{uuid.uuid4().hex}"
    body = {
        "type": "http",
        "name": failing_insert,
        "payload": {
            "url": "http://127.0.0.1:9/l9",
            "headers": {"Authorization": f"Bearer {secret}"},
        },
    }
    caplog.set_level(logging.DEBUG)
    result = client.simulate_post("/jobs/submit", json=body, headers=user.headers)
    assert_error(result, 500)
    assert secret not in result.text
    assert "refused by the test trigger" in caplog.text  # the error itself was logged
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in str(record.exc_info)
