"""The worker's Executor and Heartbeat with the real handlers, PostgreSQL and RabbitMQ.

Runs reach the worker as they do in production: the dispatcher publishes them, and the
test takes the message off the queue and hands its argument to ``Executor.execute``.
Long handlers run in a thread; the test drives the heartbeat pass by hand with a pinned
clock, so timeouts and cancellations are explicit, not slept for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from scheduler.dispatcher import DispatchResult
from scheduler.rescuer import Rescuer
from shared import jobtypes, lifecycle
from shared.db import make_engine
from shared.jobtypes import RunContext
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import (
    World,
    install_handlers,
    open_world,
    wait_for,
    worker_modules,
)

execution, heartbeat, _ = worker_modules()


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    install_handlers()
    yield from open_world(settings, engine, user.id)


class Worker:
    """One worker process's Executor and Heartbeat, sharing one InFlight and the clock."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.in_flight = heartbeat.InFlight()
        self.executor = execution.Executor(
            world.settings, lambda: world.engine, world.clock, self.in_flight
        )
        self.heartbeat = heartbeat.Heartbeat(
            self.in_flight, lambda: world.engine, world.clock, world.settings.heartbeat_seconds
        )
        self.errors: list[BaseException] = []

    def execute(self, run_id: str) -> None:
        """Execute as the actor does, then wait for the outcome to be written (the
        actor hands it over and returns)."""
        self.executor.execute(run_id)
        assert self.executor.flush(timeout=10), "the outcome was never written"

    def take(self) -> str:
        """Dispatch the due runs and take the one message they produced."""
        assert self.world.dispatcher().run_once().published == 1
        [(message, _)] = self.world.take_messages()
        [run_id] = message.args
        assert isinstance(run_id, str)
        return run_id

    def execute_in_thread(self, run_id: str) -> threading.Thread:
        def target() -> None:
            try:
                self.execute(run_id)
            except BaseException as error:  # re-raised by join()
                self.errors.append(error)

        thread = threading.Thread(target=target, name=f"execute-{run_id[:8]}")
        thread.start()
        wait_for(
            lambda: uuid.UUID(run_id) in self.in_flight.snapshot(),
            what=f"run {run_id} to be in flight",
        )
        return thread

    def join(self, thread: threading.Thread, timeout: float = 5.0) -> float:
        began = time.monotonic()
        thread.join(timeout)
        assert not thread.is_alive(), "the handler did not return"
        assert not self.errors, self.errors
        return time.monotonic() - began


def snapshot(world: World, job_id: uuid.UUID) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return world.runs(job_id), world.job(job_id)


def test_noop_run_succeeds_and_a_duplicate_message_changes_nothing(world: World) -> None:
    job = world.submit(type="noop")
    worker = Worker(world)
    run_id = worker.take()
    world.clock.advance(2)

    worker.execute(run_id)

    [run] = world.runs(job)
    assert str(run["id"]) == run_id
    assert run["state"] == "succeeded"
    assert run["started_at"] == world.now
    assert run["finished_at"] == world.now
    assert run["worker"] == execution.worker_id()
    assert run["error"] is None
    assert world.job(job)["status"] == "succeeded"
    assert worker.in_flight.snapshot() == {}

    before = snapshot(world, job)
    world.clock.advance(30)
    worker.execute(run_id)  # RabbitMQ delivered it again
    assert snapshot(world, job) == before
    worker.execute("not-a-run-id")  # a malformed message is dropped too
    assert snapshot(world, job) == before


def test_failed_attempts_are_retried_with_backoff_until_max_attempts(world: World) -> None:
    job = world.submit(
        type="fail", payload={"message": "boom"}, max_attempts=3, retry_backoff_seconds=10
    )
    worker = Worker(world)
    occurrence = world.runs(job)[0]["scheduled_for"]

    for attempt, backoff in [(1, 10), (2, 20)]:
        run_id = worker.take()
        worker.execute(run_id)
        failed = world.run(uuid.UUID(run_id))
        assert (failed["state"], failed["attempt"]) == ("failed", attempt)
        assert failed["error"] == {"kind": "exception", "message": "boom"}
        assert failed["finished_at"] == world.now

        retry = world.only_run(job, "pending")
        assert retry["attempt"] == attempt + 1
        assert retry["origin"] == "retry"
        assert retry["scheduled_for"] == occurrence
        low = world.now + timedelta(seconds=backoff * 0.9)
        high = world.now + timedelta(seconds=backoff * 1.1)
        assert low <= retry["due_at"] <= high
        assert world.job(job)["status"] == "scheduled"

        world.clock.set(retry["due_at"] - timedelta(milliseconds=1))
        assert world.dispatcher().run_once() == DispatchResult()  # not due yet
        world.clock.set(retry["due_at"])

    run_id = worker.take()
    worker.execute(run_id)
    runs = world.runs(job)
    assert [(run["attempt"], run["state"]) for run in runs] == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
    ]
    assert {run["scheduled_for"] for run in runs} == {occurrence}
    assert world.job(job)["status"] == "failed"


def test_a_run_cancelled_while_queued_is_dropped_by_the_worker(world: World) -> None:
    job = world.submit(type="noop")
    worker = Worker(world)
    run_id = worker.take()
    world.lifecycle(lifecycle.cancel, job)
    before = snapshot(world, job)
    assert before[0][0]["state"] == "cancelled"

    world.clock.advance(1)
    worker.execute(run_id)

    assert snapshot(world, job) == before
    [run] = world.runs(job)
    assert (run["started_at"], run["worker"]) == (None, None)
    assert world.job(job)["status"] == "cancelled"


def test_a_run_past_its_timeout_is_stopped_by_the_heartbeat_and_fails(world: World) -> None:
    job = world.submit(type="sleep", payload={"seconds": 30}, timeout_seconds=1)
    worker = Worker(world)
    run_id = worker.take()
    thread = worker.execute_in_thread(run_id)
    assert world.job(job)["status"] == "running"

    worker.heartbeat.run_once(beat=True)  # within the deadline: nothing happens
    assert thread.is_alive()
    # A duplicate delivery while the run is in progress starts nothing.
    other = Worker(world)
    before = snapshot(world, job)
    other.execute(run_id)
    assert snapshot(world, job) == before
    assert other.in_flight.snapshot() == {}

    world.clock.advance(1.5)
    worker.heartbeat.run_once(beat=True)
    assert worker.join(thread) < 5

    [run] = world.runs(job)
    assert run["state"] == "failed"
    assert run["error"]["kind"] == "timeout"
    assert "timeout_seconds (1)" in run["error"]["message"]
    assert run["result"] == {"slept_seconds": 30.0, "interrupted": True}
    assert world.job(job)["status"] == "failed"


def test_cancelling_a_running_run_interrupts_its_handler(world: World) -> None:
    job = world.submit(type="sleep", payload={"seconds": 30})
    worker = Worker(world)
    thread = worker.execute_in_thread(worker.take())
    wait_for(lambda: world.runs(job)[0]["state"] == "running", what="the run to start")

    world.clock.advance(1)
    world.lifecycle(lifecycle.cancel, job)
    [flagged] = world.runs(job)
    assert flagged["state"] == "running"
    assert flagged["cancel_requested_at"] == world.now
    assert thread.is_alive()

    worker.heartbeat.run_once(beat=False)
    assert worker.join(thread) < 5

    [run] = world.runs(job)
    assert run["state"] == "cancelled"
    assert run["error"]["kind"] == "cancelled"
    assert run["finished_at"] == world.now
    assert run["result"]["interrupted"] is True
    assert world.job(job)["status"] == "cancelled"
    assert len(world.runs(job)) == 1  # no retry of a cancelled run


def test_a_run_rescued_as_lost_is_interrupted_and_keeps_its_lost_state(world: World) -> None:
    job = world.submit(type="sleep", payload={"seconds": 30}, max_attempts=2)
    worker = Worker(world)
    thread = worker.execute_in_thread(worker.take())
    wait_for(lambda: world.runs(job)[0]["state"] == "running", what="the run to start")

    # The worker was cut off from the database for longer than the lease.
    world.clock.advance(world.settings.lease_seconds + 1)
    assert Rescuer(world.settings, world.engine, world.clock).run_once() == 1
    worker.heartbeat.run_once(beat=True)  # back again: its run is no longer its own
    assert worker.join(thread) < 5

    [lost, retry] = world.runs(job)
    assert lost["state"] == "lost"
    assert lost["error"]["kind"] == "lost"
    assert lost["result"] is None
    assert (retry["state"], retry["attempt"]) == ("pending", 2)
    assert world.job(job)["status"] == "scheduled"


def test_a_heartbeat_refreshes_every_run_in_flight_in_one_statement(world: World) -> None:
    jobs = [world.submit(type="noop") for _ in range(3)]
    outsider = world.submit(type="noop")
    assert world.dispatcher().run_once().published == 4
    world.take_messages()
    run_ids = [world.runs(job)[0]["id"] for job in jobs]
    for run_id in [*run_ids, world.runs(outsider)[0]["id"]]:
        world.start_run(run_id)

    beat_engine = make_engine(world.settings.database_url, pool_size=1)
    in_flight = heartbeat.InFlight()
    for job, run_id in zip(jobs, run_ids, strict=True):
        in_flight.add(
            RunContext(
                run_id=run_id,
                job_id=job,
                attempt=1,
                deadline=world.now + timedelta(hours=1),
                logger=heartbeat.log,
            )
        )
    beat = heartbeat.Heartbeat(in_flight, lambda: beat_engine, world.clock, 5)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(beat_engine, "before_cursor_execute", record)
    try:
        world.clock.advance(7)
        beat.run_once(beat=False)  # a cancellation check only: heartbeats stay put
        assert {world.run(run_id)["heartbeat_at"] for run_id in run_ids} == {world.at(0)}
        statements.clear()

        beat.run_once(beat=True)
    finally:
        event.remove(beat_engine, "before_cursor_execute", record)
        beat_engine.dispose()

    assert len(statements) == 1
    assert "UPDATE RUNS SET HEARTBEAT_AT" in " ".join(statements[0].upper().split())
    assert {world.run(run_id)["heartbeat_at"] for run_id in run_ids} == {world.now}
    assert world.runs(outsider)[0]["heartbeat_at"] == world.at(0)
    assert all(not ctx.cancelled.is_set() for ctx in in_flight.snapshot().values())


def test_the_run_metrics_follow_what_was_written(world: World) -> None:
    worker = Worker(world)
    registry = worker.executor.metrics.registry
    queue = world.settings.queues[0]
    succeeding = world.submit(type="noop")
    first = worker.take()
    world.clock.advance(2.5)  # each run starts 2.5 s after it was scheduled
    worker.execute(first)
    world.submit(type="fail", payload={"message": "boom"})
    second = worker.take()
    world.clock.advance(2.5)
    worker.execute(second)
    worker.execute(first)  # a duplicate delivery starts and finishes nothing

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"queue": queue, **labels})

    assert sample("chronos_runs_finished_total", type="noop", state="succeeded") == 1
    assert sample("chronos_runs_finished_total", type="fail", state="failed") == 1
    assert sample("chronos_run_lag_seconds_count") == 2
    assert sample("chronos_run_lag_seconds_sum") == pytest.approx(5.0)
    assert sample("chronos_run_lag_seconds_bucket", le="1.0") == 0
    assert sample("chronos_run_lag_seconds_bucket", le="2.5") == 2
    [run] = world.runs(succeeding)
    held = (run["finished_at"] - run["started_at"]).total_seconds()
    assert sample("chronos_run_duration_seconds_count", type="noop") == 1
    assert sample("chronos_run_duration_seconds_sum", type="noop") == pytest.approx(held)


def test_a_metric_that_cannot_be_recorded_raises_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """An error there would reach the starter's callers, who would drop started runs."""
    metrics = Worker(world).executor.metrics
    metrics.started([{"queue": "default", "scheduled_for": None}], world.now)
    metrics.finished([{"queue": "default", "type": "noop", "state": "succeeded"}], world.now)
    warnings = [
        record.getMessage() for record in caplog.records if "not recorded" in record.getMessage()
    ]
    assert len(warnings) == 2, warnings


def test_a_handler_that_ignores_its_timeout_is_abandoned_and_its_late_result_dropped(
    world: World,
) -> None:
    release = threading.Event()

    def deaf(payload: Any, ctx: RunContext) -> dict[str, Any]:
        release.wait(30)  # never looks at ctx.cancelled
        return {"late": True}

    jobtypes.register("deaf", lambda payload: {}, deaf)
    try:
        job = world.submit(type="deaf", timeout_seconds=1, max_attempts=1)
        worker = Worker(world)
        thread = worker.execute_in_thread(worker.take())
        world.clock.advance(1.5)
        worker.heartbeat.run_once(beat=True)  # interrupted; the handler goes on
        assert world.runs(job)[0]["state"] == "running"
        world.clock.advance(heartbeat.ABANDON_AFTER)
        worker.heartbeat.run_once(beat=True)  # abandoned
        assert worker.executor.flush(timeout=10)
        [run] = world.runs(job)
        assert (run["state"], run["error"]["kind"]) == ("failed", "timeout")
        assert "abandoned" in run["error"]["message"]
        assert worker.in_flight.snapshot() == {}
        release.set()
        worker.join(thread)
        assert world.runs(job) == [run]  # the late result changed nothing
    finally:
        release.set()
        jobtypes.REGISTRY.pop("deaf", None)
