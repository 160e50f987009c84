"""The scheduler's loop itself: one failing pass is logged and the loop goes on."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from scheduler.publisher import Outgoing
from scheduler.service import Scheduler
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import World, open_world, wait_for


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


def test_an_unexpected_exception_in_a_pass_does_not_end_the_loop(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    job = world.submit()
    scheduler = Scheduler(world.settings, world.engine, world.clock)
    claim = scheduler.dispatcher.claim_committed
    failures = [ValueError("a row no pass can plan")]

    def failing_once(limit: int | None = None) -> tuple[list[Outgoing], int]:
        if failures:
            raise failures.pop()
        return claim(limit)

    scheduler.dispatcher.claim_committed = failing_once  # type: ignore[method-assign]
    loop = threading.Thread(target=scheduler.run, name="scheduler-under-test")
    loop.start()
    try:
        wait_for(lambda: world.runs(job)[0]["state"] == "queued", what="the run to be claimed")
    finally:
        scheduler.stop()
        loop.join(30)
    assert not loop.is_alive()
    assert "scheduler pass failed" in caplog.text


def test_maintenance_finishes_what_a_user_deletion_left(world: World) -> None:
    """A deletion that ran out of its budget leaves the account marked deleted; the
    scheduler's maintenance removes the rest of it."""
    with world.engine.begin() as conn:
        user_id = conn.scalar(
            text(
                "INSERT INTO users (id, username, username_folded, email, password_hash, role, "
                "created_at, updated_at, deleted_at) VALUES (gen_random_uuid(), :name, NULL, "
                "NULL, 'x', 'user', now(), now(), now()) RETURNING id"
            ),
            {"name": f"gone{uuid.uuid4().hex[:8]}"},
        )
    scheduler = Scheduler(world.settings, world.engine, world.clock)
    scheduler.maintain_once()
    with world.engine.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM users WHERE id = :id"), {"id": user_id})
    assert left == 0
