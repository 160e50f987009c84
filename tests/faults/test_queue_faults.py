"""Queue controls through crashes: a limited queue and a paused one, with a worker and a
scheduler killed with ``kill -9`` while runs of both are in flight. The limit holds, the
paused queue's runs wait, and once it is resumed everything settles with no duplicate and
no stuck run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.client import Client
from tests.e2e.waiting import Unmet, wait_for
from tests.faults.conftest import Faults

pytestmark = pytest.mark.timeout(180)

LIMIT = 3


class RunningSampler:
    """The most runs of a queue running at once, sampled from the database."""

    def __init__(self, chronos: Faults, queue: str) -> None:
        self.chronos, self.queue = chronos, queue
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        statement = text("SELECT count(*) FROM runs WHERE queue = :q AND state = 'running'")
        with self.chronos.engine.connect() as conn:
            while not self._stop.wait(0.01):
                self.peak = max(self.peak, int(conn.scalar(statement, {"q": self.queue})))
                conn.rollback()
                self.samples += 1

    def __enter__(self) -> RunningSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def operator(chronos: Faults) -> Iterator[Client]:
    admin = Client(chronos.stack.url, chronos.stack.admin_token(), timeout=30)
    yield admin
    for queue in ("limited", "paused"):
        admin.expect("PATCH", f"/queues/{queue}", 200, {"paused": False, "concurrency": None})


def queue_view(operator: Client, name: str) -> Any:
    return operator.expect("GET", f"/queues/{name}", 200)


def test_a_limit_and_a_pause_hold_through_kills_and_everything_settles(
    chronos: Faults, operator: Client
) -> None:
    stack = chronos.stack
    operator.expect("PATCH", "/queues/limited", 200, {"concurrency": LIMIT})
    operator.expect("POST", "/queues/paused/pause", 200)
    stack.start_worker("worker-queues", queues=("limited", "paused"), wait=False)

    sleep = {"payload": {"seconds": 1}, "max_attempts": 2, "retry_backoff_seconds": 1}
    limited = chronos.submit_batch(
        [chronos.spec("sleep", queue="limited", **sleep) for _ in range(15)]
    )
    held = chronos.submit_batch([chronos.spec("noop", queue="paused") for _ in range(8)])
    other = chronos.submit_batch([chronos.spec("sleep", **sleep) for _ in range(10)])

    with RunningSampler(chronos, "limited") as sampler:
        wait_for(
            lambda: (
                chronos.run_states(limited)["running"] == LIMIT
                or Unmet(dict(chronos.run_states(limited)))
            ),
            60,
            interval=0.05,
            message=f"the limited queue to reach its {LIMIT} running runs",
        )
        stack.kill_worker("worker-queues")
        stack.restart_scheduler(hard=True)
        stack.start_worker("worker-queues", queues=("limited", "paused"), wait=False)

        # Paused: due, waiting, none started, through the kills.
        paused = queue_view(operator, "paused")
        assert paused["paused"] is True
        assert paused["pending_due"] == len(held), paused
        wait_for(
            lambda: chronos.settled(limited + other),
            120,
            interval=0.25,
            message="the limited and default queues to settle",
        )
        assert chronos.run_states(held) == {"pending": len(held)}
        operator.expect("POST", "/queues/paused/resume", 200)
        chronos.wait_settled(60)

    report = chronos.check()
    assert sampler.samples > 100
    assert sampler.peak == LIMIT, f"peak {sampler.peak} running in a queue limited to {LIMIT}"
    assert chronos.run_states(held) == {"succeeded": len(held)}
    assert report.duplicates == 0
    assert report.stuck == 0
    print(
        f"queue faults: peak {sampler.peak}/{LIMIT} over {sampler.samples} samples, "
        f"{report.lost} lost, {report.retried} retried"
    )
