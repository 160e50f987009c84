"""A worker thread that frees a slot of a limited queue fills it itself (worker.handover),
against the real PostgreSQL: the limit, the pause and the NOTIFY still hold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from scheduler.wakeup import libpq_url
from shared.repository.dispatch import Outcome
from shared.repository.runs import NOTIFY_CHANNEL
from shared.settings import Settings
from shared.states import RunState
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import (
    World,
    install_handlers,
    open_world,
    worker_module,
    worker_modules,
)
from tests.integration.test_queue_controls import count_state, flood, queued_runs, set_queue

handover = worker_module("handover")
execution, heartbeat, _ = worker_modules()
WORKER = "test-host:7"


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    install_handlers()
    yield from open_world(settings, engine, user.id)


def running_one(world: World, limit: int, due: int) -> uuid.UUID:
    """``due`` runs due in the world's queue, limited to ``limit``; the scheduler has
    claimed what the limit lets it, and the first of those runs is running."""
    flood(world, world.owner_id, due)
    set_queue(world, concurrency=limit, set_concurrency=True)
    world.dispatcher().run_once()
    first = queued_runs(world)[0]["id"]
    world.start_run(first)
    return first


def finish_and_take(world: World, run_id: uuid.UUID) -> Any:
    with world.engine.begin() as conn:
        return handover.finish_and_take_next(
            conn,
            world.settings,
            Outcome(run_id, RunState.SUCCEEDED),
            world.queue,
            WORKER,
            world.now,
        )


def notifies_after(world: World, action: Any) -> list[str]:
    listener = psycopg.connect(libpq_url(world.settings.database_url), autocommit=True)
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        action()
        return [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)]
    finally:
        listener.close()


def test_the_freed_slot_goes_to_the_next_due_run_started_on_this_worker(world: World) -> None:
    first = running_one(world, limit=1, due=3)
    done: list[Any] = []

    woken = notifies_after(world, lambda: done.append(finish_and_take(world, first)))

    [result] = done
    assert [row["id"] for row in result.finished] == [first]
    taken = result.taken
    assert taken is not None
    assert taken["id"] != first
    assert world.run(taken["id"])["state"] == "running"
    assert world.run(taken["id"])["worker"] == WORKER
    assert world.run(taken["id"])["published_at"] == world.now, "no message is owed"
    assert count_state(world, "running") == 1
    assert count_state(world, "pending") == 1
    assert woken == [], "the slot is taken: no scheduler is woken for it"


def test_queued_runs_still_count_against_the_limit(world: World) -> None:
    first = running_one(world, limit=2, due=4)  # one running, one queued
    set_queue(world, concurrency=1, set_concurrency=True)  # lowered meanwhile

    result = finish_and_take(world, first)

    assert result.taken is None, "the queued run fills the one slot"
    assert count_state(world, "running") + count_state(world, "queued") == 1
    assert count_state(world, "pending") == 2


def test_a_paused_queue_gives_no_run_and_wakes_the_schedulers(world: World) -> None:
    first = running_one(world, limit=1, due=2)
    set_queue(world, paused=True)
    done: list[Any] = []

    woken = notifies_after(world, lambda: done.append(finish_and_take(world, first)))

    assert done[0].taken is None
    assert woken == [world.queue]
    assert count_state(world, "pending") == 1


def test_an_unlimited_queue_gives_no_run(world: World) -> None:
    first = running_one(world, limit=1, due=2)
    set_queue(world, concurrency=None, set_concurrency=True)

    assert finish_and_take(world, first).taken is None
    assert count_state(world, "pending") == 1


def test_a_run_no_longer_running_frees_no_slot(world: World) -> None:
    first = running_one(world, limit=1, due=2)
    world.finish_run(first)  # rescued, say, before the worker's outcome arrived

    result = finish_and_take(world, first)

    assert (result.finished, result.taken) == ([], None)
    assert count_state(world, "pending") == 1


def test_the_wait_for_the_queue_row_sees_what_the_holder_committed(world: World) -> None:
    """Two threads freeing slots at once: the second waits for the first's lock, then
    counts the run the first started, so the limit holds."""
    flood(world, world.owner_id, 4)
    set_queue(world, concurrency=2, set_concurrency=True)
    world.dispatcher().run_once()
    first, second = [row["id"] for row in queued_runs(world)]
    world.start_run(first)
    world.start_run(second)
    holder = world.engine.connect()
    transaction = holder.begin()
    try:
        took_first = handover.finish_and_take_next(
            holder,
            world.settings,
            Outcome(first, RunState.SUCCEEDED),
            world.queue,
            WORKER,
            world.now,
        )
        assert took_first.taken is not None
    finally:
        transaction.commit()
        holder.close()
    took_second = finish_and_take(world, second)

    assert took_second.taken is not None
    assert count_state(world, "running") == 2
    assert count_state(world, "pending") == 0


class TestExecutor:
    """The thread goes on from run to run while the queue has due runs and it holds the
    slot; stopping ends the chain, and the outcome of the last run is still written."""

    def executor(self, world: World) -> Any:
        return execution.Executor(
            world.settings, lambda: world.engine, world.clock, heartbeat.InFlight()
        )

    def test_one_message_runs_the_queues_due_runs_in_turn(self, world: World) -> None:
        flood(world, world.owner_id, 3)
        set_queue(world, concurrency=1, set_concurrency=True)
        assert world.dispatcher().run_once().published == 1
        [(message, _)] = world.take_messages()
        executor = self.executor(world)

        executor.execute(message.args[0])

        assert executor.flush(timeout=10)
        assert count_state(world, "succeeded") == 3
        with world.engine.connect() as conn:
            workers = conn.scalars(
                text("SELECT DISTINCT worker FROM runs WHERE queue = :q"), {"q": world.queue}
            ).all()
        assert len(workers) == 1
        assert world.message_count() == 0, "the next runs needed no message"

    def test_a_stopping_worker_hands_the_slot_back(self, world: World) -> None:
        flood(world, world.owner_id, 3)
        set_queue(world, concurrency=1, set_concurrency=True)
        world.dispatcher().run_once()
        [(message, _)] = world.take_messages()
        executor = self.executor(world)
        executor.stopping.set()

        executor.execute(message.args[0])

        assert executor.flush(timeout=10)
        assert count_state(world, "succeeded") == 1
        assert count_state(world, "pending") == 2

    def test_a_failed_handover_still_records_the_outcome(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        flood(world, world.owner_id, 2)
        set_queue(world, concurrency=1, set_concurrency=True)
        world.dispatcher().run_once()
        [(message, _)] = world.take_messages()
        executor = self.executor(world)

        def unplannable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a row no claim can plan")

        monkeypatch.setattr(execution.handover, "finish_and_take_next", unplannable)
        executor.execute(message.args[0])

        assert executor.flush(timeout=10)
        assert count_state(world, "succeeded") == 1, "the completer wrote the outcome"
        assert count_state(world, "pending") == 1
