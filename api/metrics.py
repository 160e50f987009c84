"""The API's Prometheus metrics: requests by route and status, and gauges of live runs.

Under gunicorn every worker is its own process, so a counter kept in memory would count
only the requests of whichever worker answers the scrape, and jump backwards when another
answers. prometheus-client's multiprocess mode keeps each process's values in files in
``PROMETHEUS_MULTIPROC_DIR`` (``gunicorn.conf.py`` sets it up), and a scrape through any
worker adds them all up. Without that directory (Falcon's TestClient, a single process)
the values stay in memory.

Labels come from a fixed set, never from what a client sends: the route is Falcon's URI
template, and a method outside HTTP's usual ones counts as ``other``, so no request can
create a new series.

The live-run gauges are read from PostgreSQL, not counted as runs move: no process sees
every move. A scrape reads the database at most once per :data:`READ_EVERY` seconds per
process, however often it is scraped, and a database outage reports
``chronos_database_up 0`` instead of failing the scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.clock import Clock
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.settings import Settings

log = logging.getLogger("chronos.api.metrics")

STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"
LIVE_STATES = ("pending_due", "pending_future", "queued", "running")
OVERDUE_AFTER = job_repo.OVERDUE_AFTER
READ_EVERY = 5.0
# From a millisecond (a health check) to the slowest batch submit.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Falcon middleware: counts every response by method, route and status, and times it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.responses = Counter(
            "chronos_http_requests",
            "HTTP responses by method, route (URI template) and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "chronos_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route (URI template).",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        method = req.method if req.method in STANDARD_METHODS else OTHER_METHOD
        route = req.uri_template or UNMATCHED_ROUTE
        self.responses.labels(method, route, str(resp.status_code)).inc()
        started = req.context.get("metrics_started")
        if started is not None:
            self.duration.labels(method, route).observe(time.perf_counter() - started)


class LiveRunsCollector(Collector):
    """``chronos_runs{queue,state}``, ``chronos_overdue_jobs`` and ``chronos_database_up``,
    read from PostgreSQL when a scrape asks and the last read is older than ``every``
    seconds (an outage too is remembered for that long, so a down database is not asked
    again on every scrape)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        queues: Sequence[str],
        *,
        every: float = READ_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.queues = tuple(queues)
        self.every = every
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._families: list[Metric] = []

    def describe(self) -> Iterable[Metric]:
        # Registering asks for the names; it must not query the database.
        return self._families_of(None, None)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            moment = self.monotonic()
            if self._read_at is None or moment - self._read_at >= self.every:
                self._families = self._read()
                self._read_at = moment
            return list(self._families)

    def _read(self) -> list[Metric]:
        now = self.clock.now()
        try:
            with self.engine.connect() as conn:
                live = run_repo.count_live_by_queue(conn, now)
                overdue = job_repo.count_overdue(conn, now - OVERDUE_AFTER)
        except SQLAlchemyError as error:
            log.warning("metrics: database unavailable (%s)", error.__class__.__name__)
            return self._families_of(None, None, up=False)
        return self._families_of(live, overdue)

    def _families_of(
        self, live: dict[tuple[str, str], int] | None, overdue: int | None, up: bool = True
    ) -> list[Metric]:
        runs = GaugeMetricFamily(
            "chronos_runs",
            "Live runs by queue and state: pending_due (due now), pending_future, queued "
            "(published or not) and running.",
            labels=["queue", "state"],
        )
        overdue_jobs = GaugeMetricFamily(
            "chronos_overdue_jobs",
            "Recurring jobs whose due run is unclaimed for over a minute, or that have no "
            "pending run.",
        )
        database_up = GaugeMetricFamily(
            "chronos_database_up", "Whether the last read of these gauges reached PostgreSQL."
        )
        database_up.add_metric([], 1 if up else 0)
        if live is not None:
            # Every configured queue and state has a sample, zero included, so that an
            # alert on one never finds the series missing.
            queues = sorted({*self.queues, *(queue for queue, _ in live)})
            for queue in queues:
                for state in LIVE_STATES:
                    runs.add_metric([queue, state], live.get((queue, state), 0))
        if overdue is not None:
            overdue_jobs.add_metric([], overdue)
        return [runs, overdue_jobs, database_up]


@dataclass(frozen=True)
class ApiMetrics:
    requests: RequestMetrics
    """The middleware that counts requests."""
    registry: CollectorRegistry
    """What ``GET /metrics`` exposes."""


def api_metrics(settings: Settings, engine: Engine, clock: Clock) -> ApiMetrics:
    """The request metrics, and the registry to expose: in multiprocess mode one that adds
    up every gunicorn worker's files, otherwise this process's own."""
    own = CollectorRegistry()
    requests = RequestMetrics(own)
    exposed = own
    if settings.prometheus_multiproc_dir:
        exposed = CollectorRegistry()
        MultiProcessCollector(exposed, path=settings.prometheus_multiproc_dir)  # type: ignore[no-untyped-call]
    exposed.register(LiveRunsCollector(engine, clock, settings.queues))
    return ApiMetrics(requests, exposed)
