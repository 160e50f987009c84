"""Messages that carry several runs (scheduler.packing, ``execute_runs``), against the
real PostgreSQL and RabbitMQ: what the dispatcher publishes, and how a worker thread runs
such a message: each run started only as its handler begins."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from shared import lifecycle
from shared.broker import make_broker, message_for
from shared.jobtypes import RunContext
from shared.repository import Row
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import (
    World,
    install_handlers,
    open_world,
    wait_for,
    worker_module,
    worker_modules,
)
from tests.integration.test_queue_controls import flood, set_queue

execution, heartbeat, _ = worker_modules()
waiting_module = worker_module("waiting")


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    install_handlers()
    yield from open_world(settings, engine, user.id)


def packing(world: World, *, most: int, min_messages: int) -> World:
    settings = dataclasses.replace(
        world.settings, runs_per_message=most, min_messages_per_batch=min_messages
    )
    return dataclasses.replace(world, settings=settings)


def run_ids_of(message: Any) -> list[str]:
    if message.actor_name == "execute_run":
        return [message.args[0]]
    assert message.actor_name == "execute_runs"
    [run_ids] = message.args
    return list(run_ids)


def test_a_backlog_goes_out_several_runs_per_message_each_run_once(world: World) -> None:
    jobs = flood(world, world.owner_id, 100)
    packed = packing(world, most=16, min_messages=8)

    assert packed.dispatcher().run_once().published == 100

    messages = [message for message, _ in world.take_messages()]
    # 100 runs in at least 8 messages: 13 per message, the last one short.
    assert [len(run_ids_of(m)) for m in messages] == [13] * 7 + [9]
    assert {m.actor_name for m in messages} == {"execute_runs"}
    assert all(m.kwargs == {} and m.queue_name == world.queue_name for m in messages)
    sent = [run_id for m in messages for run_id in run_ids_of(m)]
    runs = [run for job in jobs for run in world.runs(job)]
    assert sorted(sent) == sorted(str(run["id"]) for run in runs)
    # A multi-run message's id is its own: it names no run.
    assert not {m.message_id for m in messages} & set(sent)
    assert len({m.message_id for m in messages}) == len(messages)
    assert all(run["state"] == "queued" and run["published_at"] for run in runs)


def test_a_trickle_and_a_limited_queue_go_one_run_per_message(world: World) -> None:
    packed = packing(world, most=16, min_messages=8)
    flood(world, world.owner_id, 8)
    packed.dispatcher().run_once()
    trickle = [message for message, _ in world.take_messages()]
    assert [m.actor_name for m in trickle] == ["execute_run"] * 8
    assert all(m.message_id == m.args[0] for m in trickle)

    flood(world, world.owner_id, 40)
    set_queue(world, concurrency=30, set_concurrency=True)
    assert packed.dispatcher().run_once().published == 30 - 8
    limited = [message for message, _ in world.take_messages()]
    assert [m.actor_name for m in limited] == ["execute_run"] * 22


class Watching:
    """An Executor whose handler calls note what the database shows of every run of the
    message at that moment; the clock moves a second per handler. ``first`` is called
    inside the first handler (to hold it up)."""

    def __init__(
        self,
        world: World,
        run_ids: list[str],
        *,
        waiting: Any = None,
        first: Callable[[], None] | None = None,
    ) -> None:
        self.world = world
        self.run_ids = [uuid.UUID(run_id) for run_id in run_ids]
        self.seen: list[dict[uuid.UUID, str]] = []
        watching = self

        class Executor(execution.Executor):  # type: ignore[name-defined,misc]
            def call_handler(self, run: Row, ctx: RunContext) -> Any:
                watching.seen.append(
                    {run_id: world.run(run_id)["state"] for run_id in watching.run_ids}
                )
                world.clock.advance(1)
                if first is not None and len(watching.seen) == 1:
                    first()
                return super().call_handler(run, ctx)

        self.executor = Executor(
            world.settings,
            lambda: world.engine,
            world.clock,
            heartbeat.InFlight(),
            waiting=waiting,
        )

    def execute(self, message: Any) -> None:
        """As the ``execute_runs`` actor does, then wait for the outcomes to be written."""
        self.executor.execute_all(run_ids_of(message), message.queue_name)
        assert self.executor.flush(timeout=10)


def one_message(world: World, count: int) -> Any:
    flood(world, world.owner_id, count)
    packing(world, most=16, min_messages=1).dispatcher().run_once()
    [(message, _)] = world.take_messages()
    return message


@pytest.fixture
def broker(world: World) -> Iterator[Any]:
    """The worker's broker (publishes confirmed), as worker/__init__.py makes it."""
    made = make_broker(world.settings)
    yield made
    made.close()


def sending_through(broker: Any) -> Callable[[Any], bool]:
    def send(message: Any) -> bool:
        broker.enqueue(message)
        return True

    return send


def test_each_run_of_a_message_starts_only_as_its_handler_begins(world: World) -> None:
    message = one_message(world, 3)
    first, second, third = (uuid.UUID(run_id) for run_id in run_ids_of(message))
    watching = Watching(world, run_ids_of(message))
    began = world.now

    watching.execute(message)

    # As each handler began, its run was running and those behind it were still queued
    # (those before it were done, their outcome written or on its way).
    ordered = [first, second, third]
    assert [
        [seen[run_id] for run_id in ordered[index:]] for index, seen in enumerate(watching.seen)
    ] == [["running", "queued", "queued"], ["running", "queued"], ["running"]]
    runs = [world.run(run_id) for run_id in (first, second, third)]
    assert [run["state"] for run in runs] == ["succeeded"] * 3
    # started_at (and so the timeout) counts from each handler's real start.
    assert [(run["started_at"] - began).total_seconds() for run in runs] == [0, 1, 2]


def test_a_message_skips_a_cancelled_run_and_a_malformed_id_and_runs_the_rest(
    world: World,
) -> None:
    message = one_message(world, 3)
    run_ids = run_ids_of(message)
    cancelled = world.run(uuid.UUID(run_ids[1]))
    world.lifecycle(lifecycle.cancel, cancelled["job_id"])
    watching = Watching(world, run_ids)

    watching.executor.execute_all([*run_ids, "not-a-run-id", 7], message.queue_name)
    assert watching.executor.flush(timeout=10)

    states = [world.run(uuid.UUID(run_id))["state"] for run_id in run_ids]
    assert states == ["succeeded", "cancelled", "succeeded"]
    assert len(watching.seen) == 2


def test_a_message_delivered_again_starts_nothing_twice(world: World) -> None:
    message = one_message(world, 4)
    run_ids = run_ids_of(message)
    watching = Watching(world, run_ids)
    watching.execute(message)
    before = [world.run(uuid.UUID(run_id)) for run_id in run_ids]

    watching.execute(message)  # RabbitMQ delivered it again

    assert [world.run(uuid.UUID(run_id)) for run_id in run_ids] == before
    assert len(watching.seen) == 4


def test_a_message_whose_runs_are_not_a_list_is_dropped(world: World) -> None:
    message = one_message(world, 2)
    run_ids = run_ids_of(message)
    watching = Watching(world, run_ids)
    watching.executor.execute_all(",".join(run_ids), message.queue_name)
    assert watching.seen == []
    assert {world.run(uuid.UUID(run_id))["state"] for run_id in run_ids} == {"queued"}


# Runs held up behind a slow run, or by a stopping worker, are sent on (worker.waiting)


def test_runs_held_up_by_a_slow_run_are_sent_on_and_run_by_whoever_takes_them(
    world: World, broker: Any
) -> None:
    message = one_message(world, 3)
    _, *behind = run_ids_of(message)
    waiting = waiting_module.Waiting(sending_through(broker), release_after=0.1)
    # The first run's handler lasts until the runs behind it are in a message of their own.
    watching = Watching(
        world,
        run_ids_of(message),
        waiting=waiting,
        first=lambda: wait_for(lambda: world.message_count() == 1, what="the runs sent on"),
    )

    watching.execute(message)

    assert len(watching.seen) == 1, "the runs sent on were not run by this thread"
    assert [world.run(uuid.UUID(run_id))["state"] for run_id in behind] == ["queued"] * 2
    [(sent_on, properties)] = world.take_messages()
    assert run_ids_of(sent_on) == behind
    assert sent_on.queue_name == message.queue_name
    assert properties.delivery_mode == 2
    taker = Watching(world, behind)
    taker.execute(sent_on)
    states = [world.run(uuid.UUID(run_id))["state"] for run_id in run_ids_of(message)]
    assert states == ["succeeded"] * 3
    assert len(taker.seen) == 2


def test_a_stopping_worker_sends_on_the_runs_behind_the_one_in_progress(
    world: World, broker: Any
) -> None:
    message = one_message(world, 4)
    first, *behind = run_ids_of(message)
    watching = Watching(
        world, run_ids_of(message), waiting=waiting_module.Waiting(sending_through(broker))
    )
    watching.executor.stopping.set()

    watching.execute(message)

    assert world.run(uuid.UUID(first))["state"] == "succeeded"
    assert [world.run(uuid.UUID(run_id))["state"] for run_id in behind] == ["queued"] * 3
    [(sent_on, _)] = world.take_messages()
    assert run_ids_of(sent_on) == behind
    # The last one alone still travels in the old shape.
    last = Watching(world, behind[-1:], waiting=waiting_module.Waiting(sending_through(broker)))
    last.executor.stopping.set()
    last.execute(message_for(message.queue_name, [uuid.UUID(behind[-1])]))
    assert world.take_messages() == []


def test_runs_stay_with_their_thread_when_they_cannot_be_sent_on(world: World) -> None:
    message = one_message(world, 3)
    tried = threading.Event()

    def refused(sent: Any) -> bool:
        tried.set()
        raise ConnectionError("RabbitMQ is down")

    watching = Watching(
        world,
        run_ids_of(message),
        waiting=waiting_module.Waiting(refused, release_after=0.1),
        first=lambda: wait_for(tried.is_set, what="a try to send the runs on"),
    )

    watching.execute(message)

    assert len(watching.seen) == 3
    states = [world.run(uuid.UUID(run_id))["state"] for run_id in run_ids_of(message)]
    assert states == ["succeeded"] * 3


def test_runs_behind_a_start_that_fails_go_on_in_a_message_of_their_own(
    world: World, broker: Any
) -> None:
    message = one_message(world, 3)
    first, *behind = run_ids_of(message)
    watching = Watching(
        world, run_ids_of(message), waiting=waiting_module.Waiting(sending_through(broker))
    )

    def database_gone(run_id: uuid.UUID) -> None:
        raise OperationalError("START", {}, ConnectionError("the database is gone"))

    watching.executor.start = database_gone
    with pytest.raises(OperationalError):  # the message fails, as before
        watching.executor.execute_all(run_ids_of(message), message.queue_name)

    [(sent_on, _)] = world.take_messages()
    assert run_ids_of(sent_on) == behind
    assert world.run(uuid.UUID(first))["state"] == "queued"
