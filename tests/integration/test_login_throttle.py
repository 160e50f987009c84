"""A flood of login attempts gets 429 with Retry-After, per address and per username."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from falcon import testing
from sqlalchemy import Engine

from api.app import create_app
from shared.clock import FixedClock
from shared.settings import Settings


def throttled_client(
    settings: Settings, engine: Engine, clock: FixedClock, **limits: int
) -> testing.TestClient:
    limited = dataclasses.replace(settings, **limits)
    return testing.TestClient(create_app(limited, clock=clock, engine=engine))


def login(client: testing.TestClient, username: str, password: str, address: str) -> Any:
    return client.simulate_post(
        "/auth/token",
        json={"username": username, "password": password},
        remote_addr=address,
    )


def test_a_flood_from_one_address_is_refused_with_retry_after(
    settings: Settings, engine: Engine
) -> None:
    clock = FixedClock(datetime(2031, 1, 1, 12, 0, 30, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_attempts_per_minute=5)
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    answers = [login(client, f"nobody{i}", "wrong-password", address) for i in range(7)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 2
    assert answers[5].json["title"] == "Too many requests"
    assert 1 <= int(answers[5].headers["Retry-After"]) <= 60
    # Another address is not affected.
    assert login(client, "nobody", "wrong-password", "203.0.113.9").status_code == 401
    # A minute later the window has passed.
    clock.advance(61)
    assert login(client, "nobody", "wrong-password", address).status_code == 401


def test_repeated_failures_lock_the_username_even_from_many_addresses(
    settings: Settings, engine: Engine, make_user: Callable[..., Any]
) -> None:
    account = make_user()
    clock = FixedClock(datetime(2031, 2, 1, 12, 0, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_failures_per_user=3)
    statuses = [
        login(client, account.username, "wrong-password", f"192.0.2.{i}").status_code
        for i in range(3)
    ]
    assert statuses == [401, 401, 401]
    locked = login(client, account.username, account.password, "192.0.2.77")
    assert locked.status_code == 429
    assert "username" in locked.json["description"]
    assert int(locked.headers["Retry-After"]) > 60
    clock.advance(timedelta(minutes=16).total_seconds())
    assert login(client, account.username, account.password, "192.0.2.77").status_code == 200


def test_a_successful_login_does_not_count_against_the_username(
    settings: Settings, engine: Engine, make_user: Callable[..., Any]
) -> None:
    account = make_user()
    clock = FixedClock(datetime(2031, 3, 1, 12, 0, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_failures_per_user=2)
    for _ in range(4):
        assert login(client, account.username, account.password, "192.0.2.8").status_code == 200
