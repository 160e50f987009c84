"""The worker registry (worker.registry): a worker process's row, written at boot and
with each beat whether or not it holds runs, gone when it stops cleanly, and pruned a
day after a killed process's last heartbeat."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, text

from scheduler.pruner import WORKER_RETENTION, WorkerPruner
from shared.clock import FixedClock
from shared.db import make_engine
from shared.repository import workers as worker_repo
from shared.settings import Settings
from tests.conftest import sibling_database
from tests.integration.dispatch_helpers import worker_module

# Without running worker/__init__.py, which builds a broker from the environment.
worker_id = worker_module("execution").worker_id
InFlight = worker_module("heartbeat").InFlight
Registry = worker_module("registry").Registry

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def own_engine(database_url: str) -> Iterator[Engine]:
    with sibling_database(database_url, "registry") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM workers")).mappings()]


def test_a_worker_registers_beats_while_idle_and_leaves_on_a_clean_stop(
    own_engine: Engine, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, queues=("default", "reports", "other"))
    clock = FixedClock(NOW)
    registry = Registry(settings, InFlight(), lambda: own_engine, clock)
    # What the Dramatiq worker tells a middleware at boot: consuming two of the queues.
    consumed = [settings.queue_name("default"), settings.queue_name("reports")]
    registry.queues = [q for q in settings.queues if settings.queue_name(q) in consumed]
    registry.threads = 8
    registry.beat(booting=True)
    (row,) = rows(own_engine)
    assert row["name"] == worker_id()
    assert row["queues"] == ["default", "reports"]
    assert (row["threads"], row["in_flight"]) == (8, 0)
    assert row["started_at"] == row["heartbeat_at"] == NOW
    clock.advance(5)
    registry.beat()  # idle: the row is refreshed all the same
    (row,) = rows(own_engine)
    assert row["heartbeat_at"] == NOW + timedelta(seconds=5)
    assert row["started_at"] == NOW
    registry.after_worker_shutdown(None, None)
    assert rows(own_engine) == []


def test_the_queues_come_from_the_workers_own_list_or_every_declared_queue(
    own_engine: Engine, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, queues=("default", "reports"))
    registry = Registry(settings, InFlight(), lambda: own_engine, FixedClock(NOW))
    registry.run = lambda: None  # type: ignore[method-assign]  # no thread in this test
    broker = SimpleNamespace(
        get_declared_queues=lambda: {settings.queue_name("default"), settings.queue_name("reports")}
    )
    registry.after_worker_boot(broker, SimpleNamespace(consumer_whitelist=None, worker_threads=4))
    assert registry.queues == ["default", "reports"]
    only = SimpleNamespace(consumer_whitelist={settings.queue_name("reports")}, worker_threads=2)
    registry.after_worker_boot(broker, only)
    assert (registry.queues, registry.threads) == (["reports"], 2)


def test_a_killed_workers_row_is_pruned_a_day_after_its_last_heartbeat(
    own_engine: Engine, settings: Settings
) -> None:
    with own_engine.begin() as conn:
        conn.execute(text("DELETE FROM workers"))
        worker_repo.register(conn, "dead:1", ["default"], 8, 3, NOW - WORKER_RETENTION)
        worker_repo.register(conn, "quiet:2", ["default"], 8, 0, NOW - timedelta(hours=23))
    pruned = WorkerPruner(settings, own_engine, FixedClock(NOW + timedelta(seconds=1))).run_once()
    assert pruned == 1
    assert [row["name"] for row in rows(own_engine)] == ["quiet:2"]


def test_a_worker_beats_on_postgresqls_clock_without_reading_its_own(
    own_engine: Engine, settings: Settings
) -> None:
    registry = Registry(settings, InFlight(), lambda: own_engine)  # as worker/__init__ does
    registry.beat(booting=True)
    with own_engine.connect() as conn:
        late = conn.scalar(
            text("SELECT now() - heartbeat_at FROM workers WHERE name = :name"),
            {"name": worker_id()},
        )
        conn.execute(text("DELETE FROM workers"))
        conn.commit()
    assert timedelta(0) <= late < timedelta(seconds=5)
