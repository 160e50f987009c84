"""Floods of logins and sign-ups get 429 with Retry-After: per address, and for failed
logins per (username, address)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine

from api.app import create_app
from shared.clock import FixedClock
from shared.repository import users as user_repo
from shared.settings import Settings
from tests.integration.conftest import cached_hash


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


def test_failures_lock_only_the_pair_of_username_and_address(
    settings: Settings, engine: Engine, make_user: Callable[..., Any]
) -> None:
    """M2: someone else's failures never refuse the right password from another address."""
    account = make_user()
    clock = FixedClock(datetime(2031, 2, 1, 12, 0, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_failures_per_user=3)
    attacker = "192.0.2.66"
    statuses = [
        login(client, account.username, f"wrong-{i}", attacker).status_code for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    locked = login(client, account.username, account.password, attacker)
    assert locked.status_code == 429
    assert "username" in locked.json["description"]
    assert int(locked.headers["Retry-After"]) > 60
    # The owner, elsewhere, is not locked out, and not even by failures from many places.
    for i in range(5):
        login(client, account.username, "wrong-password", f"198.51.100.{i}")
    assert login(client, account.username, account.password, "192.0.2.77").status_code == 200
    clock.advance(timedelta(minutes=16).total_seconds())
    assert login(client, account.username, account.password, attacker).status_code == 200


def test_ipv6_clients_are_counted_per_64(settings: Settings, engine: Engine) -> None:
    """L5: a /64 does not give an attacker 2^64 fresh address counters."""
    clock = FixedClock(datetime(2031, 2, 2, 12, 0, 30, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_attempts_per_minute=3)
    prefix = f"2001:db8:{uuid.uuid4().int % 65536:x}:7"
    for i in range(3):
        assert login(client, f"nobody{i}", "wrong", f"{prefix}::{i + 1}").status_code == 401
    assert login(client, "nobody", "wrong", f"{prefix}:ffff::9").status_code == 429
    assert login(client, "nobody", "wrong", f"{prefix}1::1").status_code == 401  # another /64


def test_a_dotted_capital_i_opens_no_fresh_counter(settings: Settings, engine: Engine) -> None:
    """L5: 'İ' lowercases to 'i' in PostgreSQL; 'admİn' must not reach 'admin' through a
    counter of its own."""
    username, password = f"admin{uuid.uuid4().hex[:8]}", "correct horse battery"
    with engine.begin() as conn:
        user_repo.insert_user(
            conn,
            username=username,
            email=None,
            password_hash=cached_hash(password),
            role="user",
            now=datetime.now(UTC),
        )
    clock = FixedClock(datetime(2031, 2, 3, 12, 0, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_failures_per_user=2)
    address = "192.0.2.91"
    for _ in range(2):
        login(client, username, "wrong", address)
    assert login(client, username, password, address).status_code == 429
    assert login(client, username.replace("i", "\u0130"), password, address).status_code == 401
    assert login(client, username.upper(), password, address).status_code == 429  # one counter


def test_concurrent_guesses_cannot_all_pass_the_check(
    settings: Settings, engine: Engine, make_user: Callable[..., Any]
) -> None:
    """L5: the check and the count are one statement, so at most the limit are verified."""
    account = make_user()
    clock = FixedClock(datetime(2031, 2, 4, 12, 0, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_failures_per_user=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda i: login(client, account.username, f"guess-{i}", "192.0.2.93").status_code,
                range(12),
            )
        )
    assert statuses.count(401) == 3, statuses
    assert statuses.count(429) == 9, statuses


def test_sign_ups_are_throttled_per_address_before_any_hash(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H1: a flood of sign-ups gets 429 with Retry-After, and a taken name 409, both
    without the argon2 hash that made each request cost 64 MiB and 0.1 s."""
    from api.resources import users as users_resource

    hashed: list[str] = []
    real_hash = users_resource.hash_password
    monkeypatch.setattr(
        users_resource,
        "hash_password",
        lambda password: hashed.append(password) or real_hash(password),
    )
    clock = FixedClock(datetime(2031, 2, 5, 12, 0, 30, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, signups_per_minute=3)
    address = "203.0.113.44"
    name = f"signup{uuid.uuid4().hex[:10]}"

    def sign_up(username: str, at: str = address) -> Any:
        body = {"username": username, "password": "a long enough password"}
        return client.simulate_post("/users/create", json=body, remote_addr=at)

    assert sign_up(name).status_code == 201
    assert len(hashed) == 1
    taken = sign_up(name.upper())
    assert taken.status_code == 409
    assert len(hashed) == 1  # "taken" was decided before hashing
    assert sign_up(name + "x").status_code == 201
    refused = sign_up(name + "y")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(hashed) == 2
    assert sign_up(name + "z", "203.0.113.45").status_code == 201
    clock.advance(61)
    assert sign_up(name + "y").status_code == 201


def test_a_successful_login_does_not_count_against_the_username(
    settings: Settings, engine: Engine, make_user: Callable[..., Any]
) -> None:
    account = make_user()
    clock = FixedClock(datetime(2031, 3, 1, 12, 0, tzinfo=UTC))
    client = throttled_client(settings, engine, clock, login_failures_per_user=2)
    for _ in range(4):
        assert login(client, account.username, account.password, "192.0.2.8").status_code == 200
