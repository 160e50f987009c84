"""With PostgreSQL unreachable the API answers 503 with Retry-After, never 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from falcon import testing

from api.app import create_app
from shared.db import make_engine
from shared.settings import Settings


@pytest.fixture
def cut_off_client(settings: Settings) -> Iterator[testing.TestClient]:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/chronos", pool_size=1)
    yield testing.TestClient(create_app(settings, engine=engine))
    engine.dispose()


def test_an_authenticated_request_gets_503_while_the_database_is_down(
    cut_off_client: testing.TestClient, user: Any
) -> None:
    answer = cut_off_client.simulate_get("/jobs", headers=user.headers)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json["description"].startswith("database:")


def test_ready_reports_the_database_and_health_stays_up(
    cut_off_client: testing.TestClient,
) -> None:
    assert cut_off_client.simulate_get("/ready").status_code == 503
    assert cut_off_client.simulate_get("/health").json == {"status": "ok"}
