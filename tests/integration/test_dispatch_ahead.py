"""Dispatch ahead (CHRONOS_DISPATCH_AHEAD_SECONDS): a run due within the window is
claimed and published early, its message carries the due instant, and the worker starts
it at that instant, not before. Against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from scheduler.service import Scheduler
from shared.broker import NOT_BEFORE, not_before_of
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import (
    World,
    install_handlers,
    iso,
    open_world,
    worker_modules,
)

execution, heartbeat, _ = worker_modules()


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    install_handlers()
    yield from open_world(settings, engine, user.id)


def ahead(world: World, seconds: float) -> World:
    settings = dataclasses.replace(world.settings, dispatch_ahead_seconds=seconds)
    return dataclasses.replace(world, settings=settings)


class RunningClock:
    """The world's time, running on in real time from the moment it is made."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.began = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began)


def test_a_run_due_within_the_window_goes_out_early_carrying_its_due_instant(
    world: World,
) -> None:
    soon = world.submit(schedule={"run_at": iso(world.at(0.04))})
    later = world.submit(schedule={"run_at": iso(world.at(0.2))})
    early = ahead(world, 0.05)

    assert early.dispatcher().run_once().published == 1

    run = world.only_run(soon, "queued")
    assert run["queued_at"] == world.now  # claimed now, before it is due
    [(message, _)] = world.take_messages()
    assert tuple(message.args) == (str(run["id"]),)
    assert not_before_of(message) == run["due_at"] == world.at(0.04)
    assert [r["state"] for r in world.runs(later)] == ["pending"]


def test_a_run_already_due_carries_no_instant_and_no_window_means_no_early_claim(
    world: World,
) -> None:
    due = world.submit()
    world.submit(schedule={"run_at": iso(world.at(0.01))})

    assert ahead(world, 0).dispatcher().run_once().published == 1

    [(message, _)] = world.take_messages()
    assert message.args[0] == str(world.only_run(due, "queued")["id"])
    assert NOT_BEFORE not in message.options


def test_the_scheduler_wakes_early_enough_to_send_the_next_run_ahead(world: World) -> None:
    world.submit(schedule={"run_at": iso(world.at(0.6))})
    scheduler = Scheduler(ahead(world, 0.25).settings, world.engine, world.clock)
    try:
        scheduler.dispatcher.run_once()
        assert scheduler.seconds_until_next_due() == pytest.approx(0.35)
    finally:
        scheduler.close()


def test_the_worker_starts_a_run_sent_ahead_at_its_due_instant_not_before(world: World) -> None:
    job = world.submit(schedule={"run_at": iso(world.at(0.3))})
    ahead(world, 0.5).dispatcher().run_once()
    [(message, _)] = world.take_messages()
    clock = RunningClock(world.now)
    executor = execution.Executor(world.settings, lambda: world.engine, clock, heartbeat.InFlight())

    executor.execute(message.args[0], not_before_of(message))
    assert executor.flush(timeout=10)

    run = world.only_run(job, "succeeded")
    assert run["started_at"] >= run["due_at"] == world.at(0.3)
    assert run["started_at"] - run["due_at"] < timedelta(seconds=0.2)


def test_a_message_of_several_runs_waits_for_its_last_due_instant(world: World) -> None:
    for offset in (0.1, 0.2, 0.25):
        world.submit(schedule={"run_at": iso(world.at(offset))})
    early = ahead(world, 0.5)
    packed = dataclasses.replace(
        early,
        settings=dataclasses.replace(early.settings, min_messages_per_batch=1),
    )
    packed.dispatcher().run_once()
    [(message, _)] = world.take_messages()
    assert message.actor_name == "execute_runs"
    assert not_before_of(message) == world.at(0.25)
    executor = execution.Executor(
        world.settings, lambda: world.engine, RunningClock(world.now), heartbeat.InFlight()
    )

    executor.execute_all(message.args[0], message.queue_name, not_before_of(message))
    assert executor.flush(timeout=10)

    runs = [world.run(uuid.UUID(run_id)) for run_id in message.args[0]]
    assert all(run["started_at"] >= world.at(0.25) for run in runs)


@pytest.mark.parametrize("option", [None, "soon", float("nan"), True, 1e300, 10**400, -(10**20)])
def test_a_malformed_instant_is_ignored(world: World, option: object) -> None:
    world.submit()
    world.dispatcher().run_once()
    [(message, _)] = world.take_messages()
    forged = message.copy(options={NOT_BEFORE: option})
    assert not_before_of(forged) is None
