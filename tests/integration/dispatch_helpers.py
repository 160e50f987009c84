"""Helpers for the dispatch, worker, rescuer and pruner integration tests.

Each test gets a :class:`World`: its own user, its own RabbitMQ queue (``t<uuid8>``), a
:class:`FixedClock` pinned far in the past and settings that declare only that queue.

The clock is pinned in the past on purpose: the dispatcher, rescuer and pruner each sweep
the whole ``runs`` table, and the API tests that share this run's database work in real
time. Their runs are never due, lost or old enough to prune at the pinned time, so each
of these tests only sees the rows it made. When a test ends, its jobs (with their runs)
and its queues are deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pika
from sqlalchemy import Engine, text

from scheduler.dispatcher import Dispatcher
from scheduler.publisher import Publisher
from shared import lifecycle
from shared.broker import declare_queues
from shared.clock import FixedClock
from shared.outcomes import record_outcome
from shared.repository import dispatch as dispatch_repo
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.repository.dispatch import PUBLISHED_AT
from shared.settings import Settings
from shared.states import RunState
from shared.validation import parse_submit

ROOT = Path(__file__).resolve().parents[2]
# Far from real time, so the API tests' runs (due now or later) never look due, lost or
# old to the passes under test.
EPOCH = datetime(2001, 3, 5, 12, 0, tzinfo=UTC)
BROKER_DOWN_URL = "amqp://guest:guest@127.0.0.1:1/%2F"


def worker_module(name: str) -> types.ModuleType:
    """``worker.<name>``, imported without running ``worker/__init__.py``."""
    stub: types.ModuleType | None = None
    if "worker" not in sys.modules:
        stub = types.ModuleType("worker")
        stub.__path__ = [str(ROOT / "worker")]
        sys.modules["worker"] = stub
    try:
        return importlib.import_module(f"worker.{name}")
    finally:
        if stub is not None and sys.modules.get("worker") is stub:
            del sys.modules["worker"]


def worker_modules() -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    """``worker.execution``, ``worker.heartbeat`` and ``worker.handlers``, imported without
    running ``worker/__init__.py`` (which builds a broker from the environment).

    A stand-in package object is in ``sys.modules`` only while the submodules load."""
    stub: types.ModuleType | None = None
    if "worker" not in sys.modules:
        stub = types.ModuleType("worker")
        stub.__path__ = [str(ROOT / "worker")]
        sys.modules["worker"] = stub
    try:
        execution = importlib.import_module("worker.execution")
        heartbeat = importlib.import_module("worker.heartbeat")
        handlers = importlib.import_module("worker.handlers")
    finally:
        if stub is not None and sys.modules.get("worker") is stub:
            del sys.modules["worker"]
    return execution, heartbeat, handlers


_installed = False


def install_handlers() -> None:
    global _installed
    if not _installed:
        worker_modules()[2].install()
        _installed = True


def confirmed(run: dict[str, Any]) -> dict[str, Any]:
    """A run row read with ``confirmed_at``: its ``published_at`` becomes that."""
    run["published_at"] = run.pop("confirmed_at")
    return run


def wait_for(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.02)


@dataclasses.dataclass
class World:
    settings: Settings
    engine: Engine
    clock: FixedClock
    owner_id: uuid.UUID
    queue: str
    start: datetime
    _publishers: list[Publisher] = dataclasses.field(default_factory=list)
    _amqp: pika.BlockingConnection | None = None

    # Time

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def at(self, seconds: float) -> datetime:
        """The moment ``seconds`` after the test's start."""
        return self.start + timedelta(seconds=seconds)

    # Jobs and runs

    def submit(self, body: dict[str, Any] | None = None, **fields: Any) -> uuid.UUID:
        """Submit a job (through validation, as the API does) at the clock's time."""
        raw: dict[str, Any] = {"type": "noop", "queue": self.queue, **(body or {}), **fields}
        spec = parse_submit(
            raw, self.now, is_admin=False, shell_enabled=False, queues=self.settings.queues
        )
        with self.engine.begin() as conn:
            job_view, created = lifecycle.submit(conn, spec, owner_id=self.owner_id, now=self.now)
        assert created
        job_id: uuid.UUID = job_view.job["id"]
        return job_id

    def job(self, job_id: uuid.UUID) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = job_repo.get_job(conn, job_id)
        assert row is not None
        return dict(row)

    def runs(self, job_id: uuid.UUID) -> list[dict[str, Any]]:
        """The job's runs, oldest occurrence first, then by attempt. Their
        ``published_at`` is when their publish was confirmed: their batch's receipt
        while they are queued (see :func:`confirmed`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT r.*, {PUBLISHED_AT} AS confirmed_at FROM runs AS r "  # noqa: S608
                    "WHERE r.job_id = :job ORDER BY r.scheduled_for, r.attempt, r.created_at"
                ),
                {"job": job_id},
            ).mappings()
            return [confirmed(dict(row)) for row in rows]

    def run(self, run_id: uuid.UUID) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = run_repo.get_run(conn, run_id)
            assert row is not None
            published = conn.scalar(
                text(f"SELECT {PUBLISHED_AT} FROM runs AS r WHERE r.id = :id"),  # noqa: S608
                {"id": run_id},
            )
        return {**dict(row), "published_at": published}

    def only_run(self, job_id: uuid.UUID, state: str) -> dict[str, Any]:
        matching = [run for run in self.runs(job_id) if run["state"] == state]
        assert len(matching) == 1, f"expected one {state} run, got {self.runs(job_id)}"
        return matching[0]

    def start_run(self, run_id: uuid.UUID, worker: str = "test-host:1") -> None:
        with self.engine.begin() as conn:
            started = next(iter(dispatch_repo.start_runs(conn, [run_id], worker, self.now)), None)
            assert started is not None, f"run {run_id} was not queued"
            job_repo.refresh_status(conn, [started["job_id"]], self.now)

    def finish_run(self, run_id: uuid.UUID, state: RunState = RunState.SUCCEEDED) -> None:
        with self.engine.begin() as conn:
            finished = record_outcome(conn, run_id, state, self.now)
        assert finished is not None, f"run {run_id} was not running"

    def lifecycle(self, action: Callable[..., Any], job_id: uuid.UUID) -> None:
        with self.engine.begin() as conn:
            action(conn, job_id, self.now)

    # Scheduler parts

    def publisher(self, settings: Settings | None = None) -> Publisher:
        publisher = Publisher(settings or self.settings)
        self._publishers.append(publisher)
        return publisher

    def dispatcher(
        self,
        *,
        engine: Engine | None = None,
        settings: Settings | None = None,
        batch_size: int = 500,
    ) -> Dispatcher:
        settings = settings or self.settings
        return Dispatcher(
            settings,
            engine or self.engine,
            self.publisher(settings),
            self.clock,
            batch_size=batch_size,
        )

    # RabbitMQ

    @property
    def queue_name(self) -> str:
        return self.settings.queue_name(self.queue)

    def channel(self) -> Any:
        if self._amqp is None or not self._amqp.is_open:
            self._amqp = pika.BlockingConnection(pika.URLParameters(self.settings.broker_url))
        return self._amqp.channel()

    def message_count(self) -> int:
        channel = self.channel()
        try:
            declared = channel.queue_declare(self.queue_name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code == 404:  # never declared: nothing was published to it
                return 0
            raise
        count: int = declared.method.message_count
        channel.close()
        return count

    def take_messages(self) -> list[tuple[dramatiq.Message[Any], Any]]:
        """Consume (and ack) every message on the test's queue, with its properties."""
        channel = self.channel()
        taken = []
        while True:
            method, properties, body = channel.basic_get(self.queue_name, auto_ack=True)
            if method is None:
                break
            taken.append((dramatiq.Message.decode(body), properties))
        channel.close()
        return taken

    def close(self) -> None:
        for publisher in self._publishers:
            publisher.close()
        with contextlib.suppress(pika.exceptions.AMQPError):
            channel = self.channel()
            for name in (self.queue_name, f"{self.queue_name}.DQ", f"{self.queue_name}.XQ"):
                channel.queue_delete(name)
            channel.close()
        if self._amqp is not None and self._amqp.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                self._amqp.close()
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM jobs WHERE owner_id = :owner"), {"owner": self.owner_id})


def open_world(
    settings: Settings, engine: Engine, owner_id: str, *, start: datetime = EPOCH
) -> Iterator[World]:
    queue = f"t{uuid.uuid4().hex[:8]}"
    world = World(
        # No dispatch ahead: these tests pin the due instant to the microsecond
        # (test_dispatch_ahead turns it on).
        settings=dataclasses.replace(settings, queues=(queue,), dispatch_ahead_seconds=0),
        engine=engine,
        clock=FixedClock(start),
        owner_id=uuid.UUID(owner_id),
        queue=queue,
        start=start,
    )
    # The queue exists as soon as a worker of it starts; the scheduler never creates one.
    declare_queues(world.settings)
    try:
        yield world
    finally:
        world.close()


def every(seconds: int, **schedule: Any) -> dict[str, Any]:
    """A recurring schedule starting at the moment of submission."""
    return {"interval_seconds": seconds, **schedule}


def iso(moment: datetime) -> str:
    return moment.isoformat()
