"""The scheduler's metrics: the passes' counters and timings, and the RabbitMQ queue
gauges, against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import dataclasses
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from scheduler.metrics import QueueCollector, SchedulerMetrics, serve
from scheduler.service import Scheduler
from shared.settings import Settings
from tests.e2e.stack import free_port
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import World, iso, open_world


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_pass_counts_what_it_claimed_and_published_and_times_itself(world: World) -> None:
    for _ in range(5):
        world.submit()
    world.submit(schedule={"run_at": iso(world.at(600))})  # not due: not claimed
    metrics = SchedulerMetrics()
    scheduler = Scheduler(world.settings, world.engine, world.clock, metrics)
    try:
        result = scheduler.run_once()
        scheduler.maintain_once()  # rescue and prune: the maintenance thread's pass
    finally:
        scheduler.close()

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert result.claimed == 5
    assert sample("chronos_scheduler_claimed_total") == 5
    assert sample("chronos_scheduler_published_total") == 5
    assert sample("chronos_scheduler_republished_total") == 0
    assert sample("chronos_scheduler_rescued_total") == 0
    for name in ("dispatch", "recover", "redeliver", "rescue", "prune"):
        assert sample("chronos_scheduler_pass_seconds_count", **{"pass": name}) == 1, name
    assert len(world.take_messages()) == 5


def test_republished_runs_are_counted(world: World) -> None:
    world.submit()
    world.dispatcher().claim()  # claimed, and the scheduler "crashed" before publishing
    metrics = SchedulerMetrics()
    scheduler = Scheduler(world.settings, world.engine, world.clock, metrics)
    world.clock.set(world.now + timedelta(seconds=10))
    try:
        scheduler.run_once()
    finally:
        scheduler.close()
    assert metrics.registry.get_sample_value("chronos_scheduler_republished_total") == 1
    assert metrics.registry.get_sample_value("chronos_scheduler_claimed_total") == 0


def queue_samples(collector: QueueCollector) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in collector.collect():
        for sample in family.samples:
            found[(sample.name, sample.labels.get("queue", ""))] = sample.value
    return found


def test_queue_gauges_come_from_rabbitmq_and_are_cached(world: World) -> None:
    missing = "never-declared"
    settings = dataclasses.replace(world.settings, queues=(world.queue, missing))
    for _ in range(3):
        world.submit()
    assert world.dispatcher().run_once().published == 3
    ticker = Ticker()
    collector = QueueCollector(settings, every=5.0, monotonic=ticker)
    try:
        found = queue_samples(collector)
        assert found[("chronos_queue_messages", world.queue)] == 3
        assert found[("chronos_queue_consumers", world.queue)] == 0
        assert found[("chronos_broker_up", "")] == 1
        # A passive declare reads a queue and never creates one.
        assert ("chronos_queue_messages", missing) not in found
        assert queue_samples(collector) == found

        world.take_messages()
        ticker.now += 4.9
        assert queue_samples(collector)[("chronos_queue_messages", world.queue)] == 3
        ticker.now += 0.2
        assert queue_samples(collector)[("chronos_queue_messages", world.queue)] == 0
    finally:
        collector.close()
    assert world.dispatcher().publisher.queue_depth(settings.queue_name(missing)) is None


def test_a_broker_outage_reports_down(world: World) -> None:
    unreachable = dataclasses.replace(
        world.settings, broker_url="amqp://guest:guest@127.0.0.1:1/%2F"
    )
    collector = QueueCollector(unreachable)
    found = queue_samples(collector)
    assert found == {("chronos_broker_up", ""): 0}


def test_the_metrics_server_serves_the_registry_and_port_zero_turns_it_off(
    world: World,
) -> None:
    metrics = SchedulerMetrics()
    metrics.claimed.inc(7)
    port = free_port()
    settings = dataclasses.replace(
        world.settings, scheduler_metrics_host="127.0.0.1", scheduler_metrics_port=port
    )
    server = serve(settings, metrics.registry)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert "chronos_scheduler_claimed_total 7.0" in text
        assert serve(settings, metrics.registry) is None  # the port is taken: runs on
    finally:
        server.shutdown()
        server.server_close()
    off = dataclasses.replace(settings, scheduler_metrics_port=0)
    assert serve(off, metrics.registry) is None
