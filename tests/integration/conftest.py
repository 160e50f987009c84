"""Fixtures for the API's integration tests: a Falcon TestClient over a real database."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine

from api.app import create_app
from api.auth import hash_password, issue_token
from shared.repository import users as user_repo
from shared.settings import Settings


@pytest.fixture(scope="session")
def app(settings: Settings, engine: Engine) -> Any:
    return create_app(settings, engine=engine)


@pytest.fixture
def client(app: Any) -> testing.TestClient:
    return testing.TestClient(app)


@dataclass
class Account:
    id: str
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@functools.cache
def cached_hash(password: str) -> str:
    """argon2 is slow on purpose; hashing once per password keeps the suite fast."""
    return hash_password(password)


@pytest.fixture
def make_user(engine: Engine, settings: Settings) -> Callable[..., Account]:
    """Create a user straight in the database (any role) and return it with a token."""

    def make(role: str = "user", password: str = "correct horse battery") -> Account:
        return insert_account(engine, settings, role, password, datetime.now(UTC))

    return make


def insert_account(
    engine: Engine, settings: Settings, role: str, password: str, now: datetime
) -> Account:
    """A user of ``role``, made straight in ``engine``'s database at ``now``."""
    username = f"u{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        row = user_repo.insert_user(
            conn,
            username=username,
            email=None,
            password_hash=cached_hash(password),
            role=role,
            now=now,
        )
    token = issue_token(settings, row["id"], role, now)
    return Account(str(row["id"]), username, password, token)


@pytest.fixture
def user(make_user: Callable[..., Account]) -> Account:
    return make_user()


@pytest.fixture
def other_user(make_user: Callable[..., Account]) -> Account:
    return make_user()


@pytest.fixture
def admin(make_user: Callable[..., Account]) -> Account:
    return make_user(role="admin")
