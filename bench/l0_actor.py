"""The bare Dramatiq actor of L0, run by ``dramatiq bench.l0_actor --processes 2
--threads 8``: it does nothing at all, so what L0 measures is Dramatiq's own cost per
message (deliver, dispatch to a thread, middleware, ack) on this machine.

With no database to read the outcome back from, each worker process keeps three
figures in memory (messages handled, the first and the last one's time) and a reporter
thread writes them to ``BENCH_L0_DIR/<pid>.json`` a few times a second, only when they
changed: a file per message would be the I/O that L0 must leave out.

Configured by environment: BENCH_L0_DIR, BENCH_L0_QUEUE and BENCH_BROKER_URL.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

ACTOR_NAME = "bench_l0_noop"
REPORT_EVERY_SECONDS = 0.05


class Tally:
    """Messages handled by this process, and when the first and the last one came."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    def record(self) -> None:
        now = time.time()
        with self._lock:
            self.count += 1
            if self.first is None:
                self.first = now
            self.last = now

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"count": self.count, "first": self.first, "last": self.last}


class ReportTally(dramatiq.Middleware):
    """Starts the reporter thread in each worker process Dramatiq boots."""

    def __init__(self, tally: Tally, directory: Path) -> None:
        self.tally = tally
        self.directory = directory

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        threading.Thread(target=self._report, name="bench-l0-report", daemon=True).start()

    def _report(self) -> None:
        path = self.directory / f"{os.getpid()}.json"
        written: dict[str, Any] | None = None
        while True:
            snapshot = self.tally.snapshot()
            if snapshot != written:
                # Replaced whole, so the bench never reads half a file.
                partial = path.with_suffix(".tmp")
                partial.write_text(json.dumps(snapshot))
                partial.replace(path)
                written = snapshot
            time.sleep(REPORT_EVERY_SECONDS)


tally = Tally()
broker = RabbitmqBroker(
    url=os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
)
broker.add_middleware(ReportTally(tally, Path(os.environ.get("BENCH_L0_DIR", "."))))
dramatiq.set_broker(broker)


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=os.environ.get("BENCH_L0_QUEUE", "bench-l0"),
    max_retries=0,
)
def noop(row_id: int) -> None:
    tally.record()
