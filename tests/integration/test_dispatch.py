"""The dispatcher against the real PostgreSQL and RabbitMQ: claim, publish, mark, recover.

Time is a FixedClock pinned in the past (see ``dispatch_helpers``); every pass is an
explicit ``run_once()``, ``claim()`` or ``recover()`` call.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pika
import pytest
from sqlalchemy import Engine, text

from scheduler.dispatcher import Dispatcher, DispatchResult
from scheduler.service import Scheduler
from shared import lifecycle
from shared.broker import declare_queues
from shared.db import make_engine
from shared.repository import dispatch as dispatch_repo
from shared.settings import Settings
from shared.states import RunState
from shared.validation import parse_submit
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import (
    BROKER_DOWN_URL,
    World,
    every,
    iso,
    open_world,
)


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


def states(world: World, job_id: uuid.UUID) -> list[tuple[datetime, str]]:
    return [(run["scheduled_for"], run["state"]) for run in world.runs(job_id)]


# Claim, publish and mark


def test_a_due_run_is_queued_and_published_and_a_later_one_waits(world: World) -> None:
    due = world.submit()
    later = world.submit(schedule={"run_at": iso(world.at(600))})
    dispatcher = world.dispatcher()

    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)

    run = world.only_run(due, "queued")
    assert run["queued_at"] == world.now
    assert run["published_at"] == world.now
    assert world.job(due)["status"] == "queued"
    assert [r["state"] for r in world.runs(later)] == ["pending"]
    assert world.job(later)["status"] == "scheduled"

    [(message, properties)] = world.take_messages()
    assert message.actor_name == "execute_run"
    assert tuple(message.args) == (str(run["id"]),)
    assert message.kwargs == {}
    assert message.message_id == str(run["id"])
    assert message.queue_name == world.queue_name
    assert properties.delivery_mode == 2  # persistent

    # One second before it is due, the later run still waits; at its time it goes.
    world.clock.set(world.at(599))
    assert dispatcher.run_once() == DispatchResult()
    world.clock.set(world.at(600))
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)
    later_run = world.only_run(later, "queued")
    [(message, _)] = world.take_messages()
    assert message.message_id == str(later_run["id"])


def test_recurring_job_materialises_exactly_the_next_occurrence_until_max_runs(
    world: World,
) -> None:
    job = world.submit(schedule=every(60, max_runs=3))
    dispatcher = world.dispatcher()

    for k in range(3):
        world.clock.set(world.at(60 * k))
        assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)
        runs = world.runs(job)
        claimed = [run for run in runs if run["scheduled_for"] == world.at(60 * k)]
        assert [run["state"] for run in claimed] == ["queued"]
        pending = [run for run in runs if run["state"] == "pending"]
        if k < 2:
            # Exactly one pending run, for occurrence k+1, written in the same pass.
            assert len(pending) == 1
            assert pending[0]["scheduled_for"] == world.at(60 * (k + 1))
            assert pending[0]["due_at"] == world.at(60 * (k + 1))
            assert pending[0]["created_at"] == world.now
            assert pending[0]["attempt"] == 1
            assert pending[0]["origin"] == "schedule"
        else:
            assert pending == []
        assert world.job(job)["run_count"] == k + 1
        assert len(runs) == min(k + 2, 3)

        world.start_run(claimed[0]["id"])
        if k < 2:
            world.finish_run(claimed[0]["id"])
            assert world.job(job)["status"] == "scheduled"

    # The last run is still running: the job is not finished yet.
    assert world.job(job)["status"] == "running"
    world.finish_run(world.only_run(job, "running")["id"])
    assert world.job(job)["status"] == "succeeded"
    assert [run["state"] for run in world.runs(job)] == ["succeeded"] * 3

    world.clock.set(world.at(3600))
    assert dispatcher.run_once() == DispatchResult()
    assert len(world.runs(job)) == 3
    assert world.job(job)["run_count"] == 3
    assert len(world.take_messages()) == 3


# Misfire


def test_misfire_run_once_runs_one_late_occurrence_and_moves_on_from_now(world: World) -> None:
    job = world.submit(schedule=every(600), misfire_policy="run_once")
    world.clock.set(world.at(3600 + 30))  # an hour (and a bit) late on a 10-minute interval

    dispatcher = world.dispatcher()
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)

    assert states(world, job) == [(world.at(0), "queued"), (world.at(4200), "pending")]
    assert world.job(job)["run_count"] == 1
    assert dispatcher.run_once() == DispatchResult()  # nothing else is due
    assert len(world.take_messages()) == 1


def test_misfire_skip_records_the_late_occurrence_as_skipped(world: World) -> None:
    job = world.submit(schedule=every(600), misfire_policy="skip")
    world.clock.set(world.at(3600 + 30))

    dispatcher = world.dispatcher()
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=1, published=0)

    [skipped, following] = world.runs(job)
    assert skipped["state"] == "skipped"
    assert skipped["finished_at"] == world.now
    assert skipped["queued_at"] is None
    assert "missed by 3630 s" in skipped["result"]["skipped"]
    assert "skip" in skipped["result"]["skipped"]
    assert (following["scheduled_for"], following["state"]) == (world.at(4200), "pending")
    assert world.job(job)["run_count"] == 0
    assert world.job(job)["status"] == "scheduled"
    assert world.message_count() == 0

    # The next occurrence, claimed on time, runs.
    world.clock.set(world.at(4200))
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)
    assert world.run(following["id"])["state"] == "queued"
    assert world.job(job)["run_count"] == 1


def test_misfire_run_all_queues_every_missed_occurrence_in_order(world: World) -> None:
    job = world.submit(schedule=every(600), misfire_policy="run_all", overlap_policy="allow")
    world.clock.set(world.at(3600 + 30))
    dispatcher = world.dispatcher()

    missed = [world.at(600 * k) for k in range(7)]  # 0, 10, ..., 60 minutes
    for k, occurrence in enumerate(missed):
        assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)
        queued = [run["scheduled_for"] for run in world.runs(job) if run["state"] == "queued"]
        assert queued == missed[: k + 1]
        assert occurrence in queued
    assert dispatcher.run_once() == DispatchResult()

    assert states(world, job) == [(at, "queued") for at in missed] + [(world.at(4200), "pending")]
    assert world.job(job)["run_count"] == 7
    by_id = {str(run["id"]): run["scheduled_for"] for run in world.runs(job)}
    published = [by_id[message.message_id] for message, _ in world.take_messages()]
    assert published == missed


# Overlap


def _overlap_setup(
    world: World, policy: str, *, start_first: bool
) -> tuple[uuid.UUID, dict[str, Any]]:
    job = world.submit(schedule=every(60), overlap_policy=policy)
    dispatcher = world.dispatcher()
    dispatcher.run_once()
    first = world.only_run(job, "queued")
    if start_first:
        world.start_run(first["id"])
    world.clock.set(world.at(60))
    return job, first


def test_overlap_forbid_skips_the_occurrence_while_an_earlier_run_is_running(
    world: World,
) -> None:
    job, first = _overlap_setup(world, "forbid", start_first=True)
    assert world.dispatcher().run_once() == DispatchResult(claimed=1, skipped=1, published=0)

    second = world.runs(job)[1]
    assert second["scheduled_for"] == world.at(60)
    assert second["state"] == "skipped"
    assert "overlap_policy forbid" in second["result"]["skipped"]
    still = world.run(first["id"])
    assert still["state"] == "running"
    assert still["cancel_requested_at"] is None
    assert states(world, job)[2] == (world.at(120), "pending")
    assert world.job(job)["run_count"] == 1


def test_overlap_allow_runs_both(world: World) -> None:
    job, first = _overlap_setup(world, "allow", start_first=True)
    assert world.dispatcher().run_once() == DispatchResult(claimed=1, skipped=0, published=1)

    assert states(world, job) == [
        (world.at(0), "running"),
        (world.at(60), "queued"),
        (world.at(120), "pending"),
    ]
    assert world.run(first["id"])["cancel_requested_at"] is None
    assert world.job(job)["run_count"] == 2


def test_overlap_replace_interrupts_a_running_earlier_run(world: World) -> None:
    job, first = _overlap_setup(world, "replace", start_first=True)
    assert world.dispatcher().run_once() == DispatchResult(claimed=1, skipped=0, published=1)

    old = world.run(first["id"])
    assert old["state"] == "running"  # the worker's heartbeat sees the flag and stops it
    assert old["cancel_requested_at"] == world.now
    assert states(world, job)[1:] == [(world.at(60), "queued"), (world.at(120), "pending")]
    assert world.runs(job)[1]["cancel_requested_at"] is None


def test_overlap_replace_cancels_a_queued_earlier_run(world: World) -> None:
    job, first = _overlap_setup(world, "replace", start_first=False)
    assert world.dispatcher().run_once() == DispatchResult(claimed=1, skipped=0, published=1)

    old = world.run(first["id"])
    assert old["state"] == "cancelled"
    assert old["finished_at"] == world.now
    assert old["error"]["kind"] == "cancelled"
    assert states(world, job)[1:] == [(world.at(60), "queued"), (world.at(120), "pending")]
    assert world.job(job)["status"] == "queued"


# Priority and concurrency


def test_higher_priority_runs_are_claimed_first_when_the_batch_is_full(world: World) -> None:
    jobs: dict[uuid.UUID, tuple[int, int]] = {}
    for priority, delay in [(0, 0), (5, 4), (9, 6), (3, 0), (5, 1), (7, 8), (5, 3), (8, 2)]:
        job = world.submit(priority=priority, schedule={"run_at": iso(world.at(delay))})
        jobs[job] = (priority, delay)
    world.clock.set(world.at(10))
    dispatcher = world.dispatcher(batch_size=5)

    assert dispatcher.run_once() == DispatchResult(claimed=5, skipped=0, published=5)
    queued = sorted(
        (jobs[job] for job in jobs if world.runs(job)[0]["state"] == "queued"), reverse=True
    )
    # Within one priority, the earlier due run goes first.
    assert queued == [(9, 6), (8, 2), (7, 8), (5, 3), (5, 1)]
    run_of = {str(world.runs(job)[0]["id"]): jobs[job] for job in jobs}
    assert [run_of[m.message_id] for m, _ in world.take_messages()] == [
        (9, 6),
        (8, 2),
        (7, 8),
        (5, 1),
        (5, 3),
    ]

    assert dispatcher.run_once() == DispatchResult(claimed=3, skipped=0, published=3)
    assert [run_of[m.message_id] for m, _ in world.take_messages()] == [(5, 4), (3, 0), (0, 0)]


def run_side_by_side(work: Callable[[int], None], count: int, engines: list[Engine]) -> None:
    """Run ``work(0)`` .. ``work(count - 1)`` in threads released together; then dispose
    the engines and re-raise the first error a thread hit."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def released(index: int) -> None:
        try:
            start.wait(timeout=10)
            work(index)
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=released, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for engine in engines:
            engine.dispose()
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)


def test_two_dispatchers_in_parallel_never_claim_the_same_run(world: World) -> None:
    jobs = [world.submit() for _ in range(40)]
    engines = [make_engine(world.settings.database_url, pool_size=2) for _ in range(2)]
    dispatchers = [world.dispatcher(engine=engine, batch_size=7) for engine in engines]
    results: list[list[DispatchResult]] = [[] for _ in dispatchers]

    def pending_left() -> int:
        return sum(1 for job in jobs if world.runs(job)[0]["state"] == "pending")

    def work(index: int) -> None:
        for _ in range(50):
            results[index].append(dispatchers[index].run_once())
            if results[index][-1].claimed == 0 and pending_left() == 0:
                return

    run_side_by_side(work, len(dispatchers), engines)

    claimed = [sum(r.claimed for r in per) for per in results]
    published = [sum(r.published for r in per) for per in results]
    assert sum(claimed) == 40
    assert sum(published) == 40
    run_ids = set()
    for job in jobs:
        [run] = world.runs(job)
        assert run["state"] == "queued"
        assert run["published_at"] is not None
        run_ids.add(str(run["id"]))
    assert world.message_count() == 40
    message_ids = [message.message_id for message, _ in world.take_messages()]
    assert sorted(message_ids) == sorted(run_ids)


def hold_run_lock(world: World, run_id: uuid.UUID) -> Any:
    """A transaction holding one run's row lock, as another scheduler's claim scan
    does when it locks a run's new version before its recheck drops it."""
    holder = world.engine.connect()
    transaction = holder.begin()
    holder.execute(text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": run_id})
    return holder, transaction


def test_the_mark_writes_no_run_so_a_locked_run_holds_nothing_up(world: World) -> None:
    """One receipt row per batch: another scheduler's claim scan holding a run's lock
    (the race that once left a run unmarked) no longer matters to the mark."""
    jobs = [world.submit() for _ in range(3)]
    dispatcher = world.dispatcher()
    outgoing, _ = dispatcher.claim_committed()
    locked_run = world.runs(jobs[1])[0]["id"]
    versions = run_versions(world, jobs)
    holder, transaction = hold_run_lock(world, locked_run)
    try:
        assert dispatcher.publish(outgoing) == 3  # at once: it waits for no run's lock
    finally:
        transaction.commit()
        holder.close()

    assert all(world.only_run(job, "queued")["published_at"] == world.now for job in jobs)
    assert run_versions(world, jobs) == versions, "the runs were not written again"
    # Recovery's two sources, runs in no batch and unconfirmed batches, hold none of them.
    with world.engine.connect() as conn:
        unbatched = conn.scalar(
            text(
                "SELECT count(*) FROM runs WHERE job_id = ANY(:jobs) AND state = 'queued' "
                "AND published_at IS NULL AND batch_id IS NULL"
            ),
            {"jobs": jobs},
        )
        unconfirmed = conn.scalar(
            text(
                "SELECT count(*) FROM publish_receipts WHERE published_at IS NULL "
                "AND batch_id IN (SELECT batch_id FROM runs WHERE job_id = ANY(:jobs))"
            ),
            {"jobs": jobs},
        )
    assert (unbatched, unconfirmed) == (0, 0)
    world.take_messages()
    world.clock.advance(10)
    assert dispatcher.recover() == 0


def test_a_run_queued_past_its_receipts_pruning_keeps_its_confirmation(world: World) -> None:
    job = world.submit()
    dispatcher = world.dispatcher()
    dispatcher.run_once()
    world.take_messages()
    world.clock.advance(7200)

    with world.engine.begin() as conn:
        assert dispatch_repo.prune_receipts(conn, world.now, 1000) >= 1

    run = world.only_run(job, "queued")
    assert run["published_at"] == world.at(0)
    assert dispatcher.recover() == 0, "a confirmed run is not published again"
    assert world.take_messages() == []


def run_versions(world: World, jobs: list[uuid.UUID]) -> list[str]:
    """Each run's row version (ctid and xmin): they change with every write to the row."""
    with world.engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT ctid::text || '/' || xmin::text FROM runs WHERE job_id = ANY(:jobs) "
                    "ORDER BY id"
                ),
                {"jobs": jobs},
            )
        )


def test_a_batch_partly_returned_confirms_only_what_was_routed(world: World) -> None:
    jobs = [world.submit() for _ in range(3)]
    dispatcher = world.dispatcher()
    outgoing, _ = dispatcher.claim_committed()
    returned = world.runs(jobs[0])[0]["id"]
    confirmed = [run_id for item in outgoing for run_id in item.run_ids if run_id != returned]

    assert dispatcher.mark(outgoing, confirmed) == 2

    assert world.only_run(jobs[0], "queued")["published_at"] is None
    assert all(world.only_run(job, "queued")["published_at"] == world.now for job in jobs[1:])
    world.clock.advance(10)
    world.take_messages()
    assert dispatcher.recover() == 1
    [(message, _)] = world.take_messages()
    assert tuple(message.args) == (str(returned),)


# Pause and resume


@pytest.mark.parametrize("misfire_policy", ["run_once", "skip"])
def test_a_paused_jobs_run_is_held_until_resume(world: World, misfire_policy: str) -> None:
    # A one-off job runs however late, whatever its misfire policy.
    job = world.submit(schedule={"run_at": iso(world.at(60))}, misfire_policy=misfire_policy)
    world.lifecycle(lifecycle.pause, job)
    world.clock.set(world.at(120))
    dispatcher = world.dispatcher()

    assert dispatcher.run_once() == DispatchResult()
    [held] = world.runs(job)
    assert held["state"] == "pending"
    assert held["due_at"] is None
    assert world.job(job)["status"] == "paused"

    world.lifecycle(lifecycle.resume, job)
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=1)
    assert world.run(held["id"])["state"] == "queued"
    assert world.job(job)["status"] == "queued"


def test_resume_after_a_long_pause_skips_the_missed_occurrence_with_misfire_skip(
    world: World,
) -> None:
    job = world.submit(schedule=every(600), misfire_policy="skip")
    world.lifecycle(lifecycle.pause, job)
    world.clock.set(world.at(7200 + 30))
    dispatcher = world.dispatcher()
    assert dispatcher.run_once() == DispatchResult()

    world.lifecycle(lifecycle.resume, job)
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=1, published=0)
    [missed, following] = world.runs(job)
    assert missed["scheduled_for"] == world.at(0)
    assert missed["state"] == "skipped"
    assert "missed by 7230 s" in missed["result"]["skipped"]
    assert (following["scheduled_for"], following["state"]) == (world.at(7800), "pending")
    assert following["due_at"] == world.at(7800)
    assert world.job(job)["status"] == "scheduled"
    assert world.message_count() == 0


# The outbox: a crash or a broker outage between claim and publish


def test_recover_publishes_runs_claimed_by_a_scheduler_that_crashed(world: World) -> None:
    jobs = [world.submit() for _ in range(3)]
    crashed = world.dispatcher()
    outgoing, skipped = crashed.claim()  # ... and the process dies before publishing
    assert (len(outgoing), skipped) == (3, 0)
    for job in jobs:
        [run] = world.runs(job)
        assert (run["state"], run["published_at"]) == ("queued", None)
    assert world.message_count() == 0

    survivor = world.dispatcher()
    world.clock.set(world.at(4))  # too recent: the claimer may still be publishing
    assert survivor.recover() == 0
    assert world.message_count() == 0

    world.clock.set(world.at(6))
    assert survivor.recover() == 3
    run_ids = set()
    for job in jobs:
        [run] = world.runs(job)
        assert run["state"] == "queued"
        assert run["published_at"] == world.now
        run_ids.add(str(run["id"]))
    assert world.message_count() == 3

    world.clock.set(world.at(60))
    assert survivor.recover() == 0
    assert survivor.run_once() == DispatchResult()
    assert world.message_count() == 3
    assert sorted(m.message_id for m, _ in world.take_messages()) == sorted(run_ids)


def test_two_schedulers_recovering_at_once_publish_each_run_once(world: World) -> None:
    jobs = [world.submit() for _ in range(30)]
    world.dispatcher().claim()  # a scheduler crashed after claiming these
    world.clock.set(world.at(6))
    engines = [make_engine(world.settings.database_url, pool_size=1) for _ in range(2)]
    survivors = [world.dispatcher(engine=engine, batch_size=4) for engine in engines]
    recovered = [0 for _ in survivors]

    def work(index: int) -> None:
        for _ in range(20):
            recovered[index] += survivors[index].recover()

    run_side_by_side(work, len(survivors), engines)
    assert sum(recovered) == 30
    run_ids = sorted(str(world.runs(job)[0]["id"]) for job in jobs)
    assert all(world.runs(job)[0]["published_at"] == world.now for job in jobs)
    assert sorted(m.message_id for m, _ in world.take_messages()) == run_ids


def test_a_failed_publish_leaves_runs_queued_for_recover(world: World) -> None:
    jobs = [world.submit() for _ in range(2)]
    broker_down = dataclasses.replace(world.settings, broker_url=BROKER_DOWN_URL)

    result = world.dispatcher(settings=broker_down).run_once()
    assert result == DispatchResult(claimed=2, skipped=0, published=0)
    for job in jobs:
        [run] = world.runs(job)
        assert (run["state"], run["queued_at"], run["published_at"]) == (
            "queued",
            world.now,
            None,
        )

    world.clock.set(world.now + timedelta(seconds=6))
    good = world.dispatcher()
    assert good.recover() == 2
    run_ids = set()
    for job in jobs:
        [run] = world.runs(job)
        assert run["state"] == RunState.QUEUED
        assert run["published_at"] == world.now
        run_ids.add(str(run["id"]))
    assert sorted(m.message_id for m, _ in world.take_messages()) == sorted(run_ids)


def test_a_failed_publish_escapes_nothing_even_with_warnings_as_errors(world: World) -> None:
    job = world.submit()
    broker_down = dataclasses.replace(world.settings, broker_url=BROKER_DOWN_URL)

    result = world.dispatcher(settings=broker_down).run_once()

    assert result == DispatchResult(claimed=1, skipped=0, published=0)
    [run] = world.runs(job)
    assert (run["state"], run["published_at"]) == ("queued", None)


def _publish_into_a_deleted_queue(world: World) -> tuple[Dispatcher, dict[str, Any]]:
    """A dispatcher that has published to the test's queue before; then someone deletes
    the queue behind its back, and the dispatcher publishes one more run."""
    dispatcher = world.dispatcher()
    for second in (0, 1):  # the publisher knows the queue is declared after these
        world.clock.set(world.at(second))
        world.submit()
        assert dispatcher.run_once().published == 1
    assert world.message_count() == 2
    world.take_messages()
    channel = world.channel()
    channel.queue_delete(world.queue_name)
    channel.close()

    world.clock.set(world.at(2))
    job = world.submit()
    # RabbitMQ returns the mandatory message that no queue took: it is not published.
    assert dispatcher.run_once() == DispatchResult(claimed=1, skipped=0, published=0)
    [run] = world.runs(job)
    return dispatcher, run


def test_a_message_that_no_queue_took_is_not_marked_published(world: World) -> None:
    _, run = _publish_into_a_deleted_queue(world)
    assert (run["state"], run["published_at"]) == ("queued", None)
    assert world.message_count() == 0


def queue_exists(world: World) -> bool:
    channel = world.channel()
    try:
        channel.queue_declare(world.queue_name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        return error.reply_code != 404
    channel.close()
    return True


def test_the_scheduler_never_creates_a_queue(world: World) -> None:
    """H3: a queue that no worker declared stays absent however often runs are sent to
    it; the runs wait, queued and unpublished, instead of piling up in RabbitMQ."""
    dispatcher, run = _publish_into_a_deleted_queue(world)
    world.clock.set(world.at(8))
    assert dispatcher.recover() == 0
    assert not queue_exists(world)
    assert (world.run(run["id"])["state"], world.run(run["id"])["published_at"]) == (
        "queued",
        None,
    )


def test_a_run_for_a_queue_outside_chronos_queues_fails_visibly(world: World) -> None:
    """H3: a job on a queue the deployment no longer lists (submitted before the list
    changed) fails with an error naming the queue, instead of waiting forever."""
    dispatcher = world.dispatcher()
    spec = parse_submit(
        {"type": "noop", "queue": "retired"},
        world.now,
        is_admin=False,
        shell_enabled=False,
        queues=(world.queue, "retired"),
    )
    with world.engine.begin() as conn:
        view, _ = lifecycle.submit(conn, spec, owner_id=world.owner_id, now=world.now)
    job_id = view.job["id"]
    kept = world.submit()

    result = dispatcher.run_once()

    assert result.published == 1
    [run] = world.runs(job_id)
    assert run["state"] == "failed"
    assert run["error"]["kind"] == "exception"
    assert "'" + world.settings.queue_name("retired") + "'" in run["error"]["message"]
    assert "CHRONOS_QUEUES" in run["error"]["message"]
    assert world.job(job_id)["status"] == "failed"
    assert [r["state"] for r in world.runs(kept)] == ["queued"]
    channel = world.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        channel.queue_declare(world.settings.queue_name("retired"), passive=True)


def test_a_returned_message_is_published_again_by_recover(world: World) -> None:
    dispatcher, run = _publish_into_a_deleted_queue(world)

    # The queue's worker comes back and declares it again.
    declare_queues(world.settings)
    world.clock.set(world.at(8))
    assert dispatcher.recover() == 1
    assert world.run(run["id"])["published_at"] == world.now
    assert [m.message_id for m, _ in world.take_messages()] == [str(run["id"])]


@pytest.mark.parametrize("min_messages", [32, 2], ids=["one run per message", "packed"])
def test_the_scheduler_pass_publishes_a_burst_of_many_batches_exactly_once(
    world: World, min_messages: int
) -> None:
    """Scheduler.run_once publishes each batch on its publishing thread while it claims
    the next: every run is still published once, and marked, by the time it returns,
    whether a message carries one run or several."""
    jobs = [world.submit() for _ in range(30)]
    world.settings = dataclasses.replace(world.settings, min_messages_per_batch=min_messages)
    scheduler = Scheduler(world.settings, world.engine, world.clock)
    scheduler.dispatcher = world.dispatcher(batch_size=7)  # 5 batches, the last short
    try:
        result = scheduler.run_once()
    finally:
        scheduler.close()

    assert (result.claimed, result.dispatched, result.skipped) == (30, 30, 0)
    runs = [world.only_run(job, "queued") for job in jobs]
    assert all(run["published_at"] == world.now for run in runs)
    messages = [message for message, _ in world.take_messages()]
    published = [
        run_id
        for message in messages
        for run_id in (message.args[0] if message.actor_name == "execute_runs" else message.args)
    ]
    assert sorted(published) == sorted(str(run["id"]) for run in runs)
    assert len(messages) == (30 if min_messages == 32 else 4 * 2 + 2)


@pytest.mark.parametrize(
    ("first_created_ends", "second_created_ends", "status"),
    [
        (RunState.FAILED, RunState.SUCCEEDED, "failed"),
        (RunState.SUCCEEDED, RunState.FAILED, "succeeded"),
    ],
)
def test_a_one_off_job_takes_the_outcome_of_the_run_that_finished_last(
    world: World, first_created_ends: RunState, second_created_ends: RunState, status: str
) -> None:
    """Not the run created last: a triggered run may overtake the scheduled one."""
    job = world.submit()
    world.lifecycle(lifecycle.trigger, job)
    assert world.dispatcher().run_once().published == 2
    first, second = sorted(world.runs(job), key=lambda run: run["created_at"])
    world.start_run(first["id"])
    world.start_run(second["id"])

    world.clock.advance(1)
    world.finish_run(second["id"], second_created_ends)
    world.clock.advance(1)
    world.finish_run(first["id"], first_created_ends)

    assert world.job(job)["status"] == status
