"""Chronos's run metrics, recorded by the worker next to Dramatiq's own.

Dramatiq's Prometheus middleware points prometheus-client at its multiprocess directory
(``dramatiq_prom_db``), and its exposition server (``dramatiq_prom_port``, 9191) adds up
the files of every worker process. These metrics are written there too, so one scrape
shows both.

They are recorded where the outcome is already known, with no query of their own: the
lag when the starter's statement returns the started runs, the outcome and duration when
the completer's statement returns the finished ones. Each batcher is one thread, so the
only locks taken are prometheus-client's own.

prometheus-client decides where values live (memory or the directory's files) when it is
first imported, so this module imports it only when :class:`RunMetrics` is made: after
``worker/__init__.py`` has set ``PROMETHEUS_MULTIPROC_DIR``, as Dramatiq's middleware
imports it only after process boot.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from shared.repository import Row
from shared.rollups import LAG_BUCKETS

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("chronos.worker.metrics")

# finished_at - started_at: from a noop (milliseconds) to timeout_seconds' ceiling (a day).
DURATION_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    900.0, 3600.0, 21600.0, 86400.0,
)  # fmt: skip


class RunMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        # A registry of its own: in multiprocess mode the exposition reads the files, not
        # a registry, and in one process (tests) two workers' metrics stay apart.
        self.registry = registry if registry is not None else CollectorRegistry()
        self.outcomes = Counter(
            "chronos_runs_finished",
            "Runs that a worker finished, by queue, job type and final state.",
            ["queue", "type", "state"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "chronos_run_lag_seconds",
            "How late runs started: started_at - scheduled_for.",
            ["queue"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "chronos_run_duration_seconds",
            "How long runs ran: finished_at - started_at.",
            ["queue", "type"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        # Each series' child, looked up once: labels() costs as much as an observation.
        self._lag: dict[str, Histogram] = {}
        self._duration: dict[tuple[str, str], Histogram] = {}

    def started(self, runs: Iterable[Row], now: datetime) -> None:
        """Runs just started, with ``started_at = now``."""
        with _never_failing("started"):
            self._started(runs, now)

    def finished(self, runs: Iterable[Row], now: datetime) -> None:
        """Runs whose outcome was just written, with ``finished_at = now``."""
        with _never_failing("finished"):
            self._finished(runs, now)

    def _started(self, runs: Iterable[Row], now: datetime) -> None:
        for run in runs:
            lag = self._lag.get(run["queue"])
            if lag is None:
                lag = self._lag[run["queue"]] = self.lag.labels(run["queue"])
            lag.observe((now - run["scheduled_for"]).total_seconds())

    def _finished(self, runs: Iterable[Row], now: datetime) -> None:
        outcomes: collections.Counter[tuple[str, str, str]] = collections.Counter()
        for run in runs:
            outcomes[run["queue"], run["type"], run["state"]] += 1
            kind = (run["queue"], run["type"])
            duration = self._duration.get(kind)
            if duration is None:
                duration = self._duration[kind] = self.duration.labels(*kind)
            duration.observe((now - run["started_at"]).total_seconds())
        # One addition per outcome a batch had, not per run.
        for labels, count in outcomes.items():
            self.outcomes.labels(*labels).inc(count)


@contextlib.contextmanager
def _never_failing(what: str) -> Iterator[None]:
    """A metric that cannot be written (the directory's disk full, say) is lost, not the
    runs: the starter's callers would take the error for a failed start and drop runs
    that did start."""
    try:
        yield
    except Exception as error:
        log.warning("metrics of %s runs not recorded: %r", what, error)
