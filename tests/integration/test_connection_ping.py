"""The API's pool pings a connection only when it has been idle (shared.db): one that
died while idle (a database restart, a failover, an idle timeout) is replaced before
any request uses it; one used a moment ago is trusted, as HikariCP trusts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from shared import db
from shared.db import make_engine
from shared.settings import Settings


@pytest.fixture
def api_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url, pool_size=1)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def kill_backend(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    api_engine: Engine, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend_pid(api_engine)
    kill_backend(engine, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle long enough

    second = backend_pid(api_engine)  # no error reaches the caller

    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged(
    api_engine: Engine, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend_pid(api_engine)
    kill_backend(engine, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)

    # Within the window the dead connection is trusted: its first statement fails (the
    # API answers 503 with Retry-After), and SQLAlchemy discards the pool...
    with pytest.raises(OperationalError):
        backend_pid(api_engine)
    # ...so the next request gets a new connection.
    assert backend_pid(api_engine) != first
