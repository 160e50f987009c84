"""The scheduler's maintenance passes against the real PostgreSQL: the rescuer (running
runs whose worker stopped heart-beating become ``lost``) and the pruner (old finished runs
are deleted in batches)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from scheduler.pruner import Pruner
from scheduler.rescuer import Rescuer
from shared import lifecycle
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import World, every, iso, open_world

LEASE = 10
# The pruner deletes by age across the whole table; its test lives further in the past
# than every other test's runs so that it only ever sees its own.
PRUNE_EPOCH = datetime(1990, 6, 1, 8, 0, tzinfo=UTC)
DAY = 86400


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


@pytest.fixture
def old_world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id, start=PRUNE_EPOCH)


def started(world: World, **fields: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """A job whose first run a worker started at the clock's time: (job id, run id)."""
    job = world.submit(**fields)
    world.dispatcher().claim()
    run_id = world.only_run(job, "queued")["id"]
    world.start_run(run_id, worker="dead-host:4242")
    return job, run_id


def rescuer(world: World) -> Rescuer:
    return Rescuer(
        dataclasses.replace(world.settings, lease_seconds=LEASE), world.engine, world.clock
    )


# Rescuer


def test_a_run_without_heartbeat_past_the_lease_is_lost_and_retried(world: World) -> None:
    retried, retried_run = started(world, max_attempts=2, retry_backoff_seconds=20)
    final, _ = started(world, max_attempts=1)
    world.clock.set(world.at(LEASE - 4))
    fresh, fresh_run = started(world, max_attempts=2)

    world.clock.set(world.at(LEASE + 1))
    assert rescuer(world).run_once() == 2

    lost = world.run(retried_run)
    assert lost["state"] == "lost"
    assert lost["finished_at"] == world.now
    assert lost["error"]["kind"] == "lost"
    assert "dead-host:4242" in lost["error"]["message"]
    retry = world.only_run(retried, "pending")
    assert (retry["attempt"], retry["origin"]) == (2, "retry")
    assert retry["scheduled_for"] == lost["scheduled_for"]
    assert world.now + timedelta(seconds=18) <= retry["due_at"] <= world.now + timedelta(seconds=22)
    assert world.job(retried)["status"] == "scheduled"

    assert [(run["state"], run["error"]["kind"]) for run in world.runs(final)] == [("lost", "lost")]
    assert world.job(final)["status"] == "failed"

    # A heartbeat younger than the lease is left alone.
    assert [run["state"] for run in world.runs(fresh)] == ["running"]
    assert world.run(fresh_run)["error"] is None
    assert world.job(fresh)["status"] == "running"

    # A second pass finds nothing new; once the fresh run's lease runs out, it is lost too.
    assert rescuer(world).run_once() == 0
    world.clock.set(world.at(2 * LEASE))
    assert rescuer(world).run_once() == 1
    assert world.run(fresh_run)["state"] == "lost"
    assert world.only_run(fresh, "pending")["attempt"] == 2


def test_a_heartbeat_exactly_at_the_lease_is_not_lost(world: World) -> None:
    job, run_id = started(world)
    world.clock.set(world.at(LEASE))
    assert rescuer(world).run_once() == 0
    assert world.run(run_id)["state"] == "running"
    assert world.job(job)["status"] == "running"


def test_the_lost_run_of_a_cancelled_job_is_not_retried(world: World) -> None:
    job, run_id = started(world, max_attempts=3)
    world.lifecycle(lifecycle.cancel, job)
    assert world.run(run_id)["cancel_requested_at"] == world.now

    world.clock.set(world.at(LEASE + 1))
    assert rescuer(world).run_once() == 1

    [run] = world.runs(job)
    assert run["state"] == "lost"
    assert run["error"]["kind"] == "lost"
    assert world.job(job)["status"] == "cancelled"


# Pruner


def finish_occurrences(world: World, job: uuid.UUID, count: int, step: int) -> None:
    """Claim, start and finish ``count`` successive occurrences, ``step`` seconds apart."""
    dispatcher = world.dispatcher()
    for _ in range(count):
        dispatcher.claim()
        run_id = world.only_run(job, "queued")["id"]
        world.start_run(run_id)
        world.finish_run(run_id)
        world.clock.advance(step)


def test_the_pruner_deletes_old_finished_runs_in_batches_keeping_each_jobs_newest(
    old_world: World,
) -> None:
    world = old_world
    # Old: six finished occurrences (schedule exhausted); only the newest is kept.
    done = world.submit(schedule={**every(60, max_runs=6), "run_at": iso(world.at(10))})
    world.clock.set(world.at(10))
    finish_occurrences(world, done, 6, 60)
    # Old: a one-off job's only run, which is its newest.
    once = world.submit()
    finish_occurrences(world, once, 1, 60)
    # Recent: finished within the retention period.
    world.clock.set(world.at(20 * DAY))
    recent = world.submit(
        schedule={**every(60, max_runs=2), "run_at": iso(world.at(20 * DAY + 10))}
    )
    world.clock.set(world.at(20 * DAY + 10))
    finish_occurrences(world, recent, 2, 60)

    before = {job: world.runs(job) for job in (done, once, recent)}
    assert [len(runs) for runs in before.values()] == [6, 1, 2]
    assert all(run["finished_at"] is not None for runs in before.values() for run in runs)

    world.clock.set(world.at(31 * DAY))  # retention is 30 days
    assert world.settings.run_retention_days == 30
    one_batch = Pruner(world.settings, world.engine, world.clock, batch_size=2, max_batches=1)
    assert one_batch.run_once() == 2
    assert len(world.runs(done)) == 4

    pruner = Pruner(world.settings, world.engine, world.clock, batch_size=2, max_batches=10)
    assert pruner.run_once() == 3
    assert pruner.run_once() == 0

    assert [run["id"] for run in world.runs(done)] == [before[done][-1]["id"]]
    assert world.runs(once) == before[once]
    assert world.runs(recent) == before[recent]
    # The jobs themselves are untouched, and last_run still shows the newest run.
    assert (world.job(done)["run_count"], world.job(done)["status"]) == (6, "succeeded")
    with world.engine.connect() as conn:
        last_run = lifecycle.view(conn, done).last_run
    assert last_run is not None
    assert last_run["id"] == before[done][-1]["id"]

    # Once the recent runs are old too, they go (but for the job's newest).
    world.clock.set(world.at(51 * DAY))
    assert pruner.run_once() == 1
    assert [run["id"] for run in world.runs(recent)] == [before[recent][1]["id"]]


def test_the_pruner_keeps_the_run_a_recurring_jobs_last_run_shows(old_world: World) -> None:
    world = old_world
    # Every 40 days, with 30 days' retention (as a monthly job has in a 31-day month).
    job = world.submit(schedule={**every(40 * DAY), "run_at": iso(world.at(10))})
    world.clock.set(world.at(10))
    finish_occurrences(world, job, 1, 0)
    [finished, following] = world.runs(job)
    assert (finished["state"], following["state"]) == ("succeeded", "pending")

    world.clock.set(world.at(35 * DAY))
    Pruner(world.settings, world.engine, world.clock).run_once()

    with world.engine.connect() as conn:
        last_run = lifecycle.view(conn, job).last_run
    assert last_run is not None, "the job's last_run was pruned"
    assert last_run["id"] == finished["id"]
