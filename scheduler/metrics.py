"""The scheduler's Prometheus metrics, served on CHRONOS_SCHEDULER_METRICS_PORT (9192).

What the passes did (claimed, published, published again, rescued, pruned) and how long
each took, plus each configured RabbitMQ queue's ready messages and consumers, which the
operators' alerts need (a backlog growing, a queue nothing consumes) and which RabbitMQ
knows better than PostgreSQL.

Counting costs the passes an addition and a clock read each. The queues are asked only
when a scrape comes, at most once per :data:`READ_EVERY` seconds, on a connection of the
collector's own: the publisher's channel belongs to the dispatch pipeline's threads, and
a scrape arrives on the metrics server's. A broker outage reports ``chronos_broker_up 0``
and leaves the scheduler's loop alone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pika
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.settings import Settings

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from scheduler.service import PassResult

log = logging.getLogger("chronos.scheduler.metrics")

PASSES = ("dispatch", "recover", "redeliver", "rescue", "prune", "purge_accounts", "rollup")
# An idle dispatch pass takes a millisecond; a burst of batches or a long prune, seconds.
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
READ_EVERY = 5.0
BROKER_TIMEOUT_SECONDS = 5


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.claimed = Counter(
            "chronos_scheduler_claimed",
            "Due runs claimed, queued or skipped by their misfire or overlap policy.",
            registry=self.registry,
        )
        self.published = Counter(
            "chronos_scheduler_published",
            "Claimed runs whose publish RabbitMQ confirmed.",
            registry=self.registry,
        )
        self.messages = Counter(
            "chronos_scheduler_messages",
            "Messages whose publish RabbitMQ confirmed; one carries a run, or several while "
            "a queue has a backlog (published runs / messages = runs per message).",
            registry=self.registry,
        )
        self.republished = Counter(
            "chronos_scheduler_republished",
            "Runs published again: no confirmed publish, or a message gone missing.",
            registry=self.registry,
        )
        self.rescued = Counter(
            "chronos_scheduler_rescued",
            "Running runs whose heartbeat stopped, marked lost.",
            registry=self.registry,
        )
        self.pruned = Counter(
            "chronos_scheduler_pruned",
            "Finished runs deleted after the retention period.",
            registry=self.registry,
        )
        self.pass_seconds = Histogram(
            "chronos_scheduler_pass_seconds",
            "Time taken by each scheduler pass.",
            ["pass"],
            buckets=PASS_BUCKETS,
            registry=self.registry,
        )
        self._timers = {name: self.pass_seconds.labels(name) for name in PASSES}

    @contextlib.contextmanager
    def timing(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._timers[name].observe(time.perf_counter() - started)

    def count(self, result: PassResult) -> None:
        self.claimed.inc(result.claimed)
        self.published.inc(result.dispatched)
        self.republished.inc(result.recovered)
        self.rescued.inc(result.lost)
        self.pruned.inc(result.pruned)


class QueueCollector(Collector):
    """``chronos_queue_messages{queue}``, ``chronos_queue_consumers{queue}`` and
    ``chronos_broker_up``, from a passive ``queue_declare`` of each configured queue: it
    reads a queue's counts and never creates one. A queue not declared yet has no sample."""

    def __init__(
        self,
        settings: Settings,
        *,
        every: float = READ_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.every = every
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._families: list[Metric] = []
        self._connection: pika.BlockingConnection | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families_of(None)

    def collect(self) -> Iterable[Metric]:
        # The metrics server answers each scrape on a thread of its own; the lock keeps
        # the connection to one of them at a time.
        with self._lock:
            moment = self.monotonic()
            if self._read_at is None or moment - self._read_at >= self.every:
                self._families = self._families_of(self._read())
                self._read_at = moment
            return list(self._families)

    def _read(self) -> dict[str, tuple[int, int]] | None:
        # A second try on a new connection: the kept one may have been dropped since
        # (a broker restart, missed heartbeats while no one scraped).
        for attempt in (1, 2):
            try:
                return self._declare_all()
            except (pika.exceptions.AMQPError, OSError) as error:
                self._drop()
                if attempt == 2:
                    log.warning("metrics: RabbitMQ unavailable (%s)", error.__class__.__name__)
        return None

    def _declare_all(self) -> dict[str, tuple[int, int]]:
        channel = self._channel()
        counts: dict[str, tuple[int, int]] = {}
        for queue in self.settings.queues:
            try:
                declared = channel.queue_declare(self.settings.queue_name(queue), passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                channel = self._channel()  # 404: the queue is not declared yet
                continue
            counts[queue] = (declared.method.message_count, declared.method.consumer_count)
        return counts

    def _channel(self) -> pika.adapters.blocking_connection.BlockingChannel:
        if self._connection is None or not self._connection.is_open:
            parameters = pika.URLParameters(self.settings.broker_url)
            parameters.socket_timeout = BROKER_TIMEOUT_SECONDS
            parameters.blocked_connection_timeout = BROKER_TIMEOUT_SECONDS
            parameters.connection_attempts = 1
            self._connection = pika.BlockingConnection(parameters)
        return self._connection.channel()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()

    @staticmethod
    def _families_of(counts: dict[str, tuple[int, int]] | None) -> list[Metric]:
        messages = GaugeMetricFamily(
            "chronos_queue_messages",
            "Messages ready in each configured RabbitMQ queue.",
            labels=["queue"],
        )
        consumers = GaugeMetricFamily(
            "chronos_queue_consumers",
            "Consumers of each configured RabbitMQ queue.",
            labels=["queue"],
        )
        broker_up = GaugeMetricFamily(
            "chronos_broker_up", "Whether the last read of the queue gauges reached RabbitMQ."
        )
        broker_up.add_metric([], 0 if counts is None else 1)
        for queue, (ready, consuming) in sorted((counts or {}).items()):
            messages.add_metric([queue], ready)
            consumers.add_metric([queue], consuming)
        return [messages, consumers, broker_up]


def serve(settings: Settings, registry: CollectorRegistry) -> WSGIServer | None:
    """Serve ``registry`` on the configured address; None when turned off (port 0) or the
    port is taken: the scheduler's work matters more than its metrics, so it runs on."""
    port = settings.scheduler_metrics_port
    if port == 0:
        return None
    host = settings.scheduler_metrics_host
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        log.error("metrics: cannot listen on %s:%d (%s); serving none", host, port, error)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
