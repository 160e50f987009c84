"""``X-Request-Id`` on every response, errors included, and on the request's log lines."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import falcon
import pytest
from falcon import testing
from sqlalchemy import Engine

from api.app import create_app
from shared.db import make_engine
from shared.logs import JsonFormatter
from shared.settings import Settings

FRESH_ID = re.compile(r"[0-9a-f]{32}")


class Boom:
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        logging.getLogger("chronos.api.test").info("about to fail")
        raise RuntimeError("a bug")


@pytest.fixture
def boom_client(settings: Settings, engine: Engine) -> testing.TestClient:
    app = create_app(settings, engine=engine)
    app.add_route("/boom", Boom())
    return testing.TestClient(app)


@pytest.fixture
def cut_off_client(settings: Settings) -> Iterator[testing.TestClient]:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/chronos", pool_size=1)
    yield testing.TestClient(create_app(settings, engine=engine))
    engine.dispose()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the API's loggers write meanwhile, as the JSON formatter renders it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    chronos = logging.getLogger("chronos")
    chronos.addHandler(handler)
    previous = chronos.level
    chronos.setLevel(logging.INFO)
    yield stream
    chronos.removeHandler(handler)
    chronos.setLevel(previous)


def fresh_id(result: testing.Result) -> str:
    request_id = result.headers.get("X-Request-Id")
    assert request_id is not None, f"{result.status}: no X-Request-Id"
    assert FRESH_ID.fullmatch(request_id), request_id
    return request_id


def test_a_success_carries_a_fresh_id(client: testing.TestClient) -> None:
    first = fresh_id(client.simulate_get("/health"))
    second = fresh_id(client.simulate_get("/health"))
    assert first != second


@pytest.mark.parametrize(
    ("status", "call"),
    [
        (400, {"method": "POST", "path": "/jobs/submit", "body": "{not json", "auth": True}),
        (400, {"method": "POST", "path": "/jobs/submit", "body": '{"type": 3}', "auth": True}),
        (401, {"method": "GET", "path": "/jobs"}),
        (404, {"method": "GET", "path": "/no/such/route"}),
        (404, {"method": "GET", "path": "/jobs/not-a-uuid", "auth": True}),
        (405, {"method": "DELETE", "path": "/health"}),
        (413, {"method": "POST", "path": "/jobs/submit", "body": "x" * 300_000, "auth": True}),
        (
            415,
            {
                "method": "POST",
                "path": "/jobs/submit",
                "body": "{}",
                "auth": True,
                "type": "text/plain",
            },
        ),
    ],
)
def test_every_error_carries_an_id(
    client: testing.TestClient, user: Any, status: int, call: dict[str, Any]
) -> None:
    headers = {"Content-Type": call.get("type", "application/json")}
    if call.get("auth"):
        headers.update(user.headers)
    result = client.simulate_request(
        call["method"], call["path"], body=call.get("body"), headers=headers
    )
    assert result.status_code == status
    fresh_id(result)
    assert set(result.json) == {"title", "description"}


def test_a_500_carries_the_id_and_its_log_lines_name_it(
    boom_client: testing.TestClient, json_lines: io.StringIO
) -> None:
    result = boom_client.simulate_get("/boom", headers={"X-Request-Id": "trace-500.a:b"})
    assert result.status_code == 500
    assert result.headers["X-Request-Id"] == "trace-500.a:b"
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["about to fail", "unhandled error on GET /boom"]
    assert {line["request_id"] for line in lines} == {"trace-500.a:b"}
    assert "RuntimeError: a bug" in lines[1]["exc_info"]


def test_the_id_is_not_left_behind_for_the_next_lines(
    boom_client: testing.TestClient, json_lines: io.StringIO
) -> None:
    boom_client.simulate_get("/boom")
    logging.getLogger("chronos.api.test").info("after the request")
    last = json.loads(json_lines.getvalue().splitlines()[-1])
    assert last["message"] == "after the request"
    assert "request_id" not in last


def test_a_503_carries_the_id(cut_off_client: testing.TestClient, user: Any) -> None:
    result = cut_off_client.simulate_get(
        "/jobs", headers={**user.headers, "X-Request-Id": "down-1"}
    )
    assert result.status_code == 503
    assert result.headers["X-Request-Id"] == "down-1"


def test_a_falcon_error_handler_response_carries_the_id(client: testing.TestClient) -> None:
    result = client.simulate_get("/jobs", headers={"Authorization": "Bearer not.a.jwt"})
    assert result.status_code == 401
    assert result.headers["WWW-Authenticate"] == "Bearer"
    fresh_id(result)


@pytest.mark.parametrize(
    "sane",
    ["abc", "0" * 128, "req-1.2:3_4", "6f1c0b3e-1d1b-4c1e-9b1a-0d9e8f7a6b5c", "A.b-C:d_E"],
)
def test_a_sane_client_id_is_echoed(client: testing.TestClient, sane: str) -> None:
    result = client.simulate_get("/health", headers={"X-Request-Id": sane})
    assert result.headers["X-Request-Id"] == sane


@pytest.mark.parametrize(
    "insane",
    [
        "0" * 129,
        "x" * 10_000,
        "two words",
        "line\r\nX-Injected: 1",
        "tab\there",
        "caf\u00e9",
        "\u65e5\u672c",
        "semi;colon",
        'quote"d',
        "slash/ed",
        "",
        " ",
    ],
)
def test_an_insane_client_id_is_replaced_never_echoed(
    client: testing.TestClient, insane: str
) -> None:
    # Falcon's test client sends headers as WSGI does: latin-1 text.
    header = insane.encode("utf-8").decode("latin-1")
    result = client.simulate_get("/health", headers={"X-Request-Id": header})
    assert result.status_code == 200
    replaced = fresh_id(result)
    assert replaced != header
    assert "X-Injected" not in result.headers
