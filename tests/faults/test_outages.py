"""RabbitMQ and PostgreSQL go away and come back while runs are in flight. No process is
restarted: each one reconnects by itself, and the invariants hold afterwards.

These disrupt every user of the machine's broker or database for a few seconds, so the
outages are short and the service is always brought back (in a ``finally``).
"""

from __future__ import annotations

import random
import time

import pytest
from sqlalchemy import text

from shared.repository.dispatch import CONFIRMED
from tests.e2e.target import Target
from tests.e2e.waiting import Unmet, wait_for
from tests.faults.conftest import (
    Faults,
    ensure_postgres_running,
    queue_depth,
    rabbitmq_stopped,
    restart_postgres,
)

pytestmark = pytest.mark.timeout(240)


UNCONFIRMED = text(
    "SELECT count(*) FROM runs AS r WHERE job_id = ANY(CAST(:ids AS uuid[])) "  # noqa: S608 (a constant)
    f"AND state = 'queued' AND NOT {CONFIRMED}"
)


def unpublished(chronos: Faults, job_ids: list[str]) -> int | Unmet:
    """Queued runs whose publish no receipt confirms."""
    with chronos.engine.connect() as conn:
        count = int(conn.scalar(UNCONFIRMED, {"ids": job_ids}) or 0)
    return count or Unmet(dict(chronos.run_states(job_ids)))


def test_rabbitmq_stop_app_while_runs_are_dispatched(chronos: Faults, target: Target) -> None:
    stack = chronos.stack
    rng = random.Random()
    path = target.new_path("rabbit-outage")
    first = time.time() + 1.0
    specs = []
    for index in range(90):
        run_at = first + rng.uniform(0, 10.0)
        specs.append(
            chronos.http_spec(path, run_at) if index % 3 == 0 else chronos.spec("noop", run_at)
        )
    job_ids = chronos.submit_batch(specs)
    wait_for(
        lambda: (n := chronos.run_states(job_ids)["succeeded"]) >= 5 or Unmet(n),
        15,
        interval=0.1,
        message="some runs to have been dispatched",
    )
    with rabbitmq_stopped():
        stopped = time.monotonic()
        # Runs keep coming due: the scheduler claims them and cannot publish them.
        claimed = wait_for(
            lambda: unpublished(chronos, job_ids),
            10,
            interval=0.2,
            message="runs claimed during the outage",
        )
        print(f"rabbitmq down: {claimed} runs claimed and unpublished; {chronos.run_states()}")
    back = time.monotonic()
    print(f"rabbitmq was down {back - stopped:.1f}s")
    assert chronos.count_in_logs("scheduler", "publishing") > 0, "no publish failed or was redone"

    took = chronos.wait_settled(120)
    report = chronos.check(job_ids)
    calls = chronos.assert_http_once(path, job_ids)
    depth = queue_depth(stack, "default")
    print(
        f"rabbitmq outage: settled {took:.1f}s after start_app; {calls} http calls; "
        f"{chronos.dropped_duplicates()} duplicate deliveries dropped; queue depth {depth}"
    )
    assert report.runs == report.succeeded == len(specs)
    assert calls == len([spec for spec in specs if spec["type"] == "http"])
    # No process was restarted by the test: each reconnected by itself.
    assert all(stack.processes[name].alive() for name in ("api", "scheduler", "worker"))


def test_postgres_restart_while_workers_finish_runs(chronos: Faults) -> None:
    stack = chronos.stack
    more = stack.spawn("worker-more", "worker", env={"CHRONOS_WORKER_THREADS": "12"})
    wait_for(
        lambda: len(chronos.log_lines(more, "Worker process is ready for action")) == 2,
        30,
        interval=0.1,
        message="the second worker to boot",
    )
    count = 50
    job_ids = chronos.submit_batch(
        [
            chronos.spec("sleep", payload={"seconds": 2}, max_attempts=2, retry_backoff_seconds=1)
            for _ in range(count)
        ]
    )
    wait_for(
        lambda: (s := chronos.run_states(job_ids))["running"] >= 30 or Unmet(dict(s)),
        30,
        interval=0.05,
        message="runs to be in flight",
    )
    in_flight = chronos.run_states(job_ids)
    try:
        outage = restart_postgres(stack.env["CHRONOS_DATABASE_URL"])
    finally:
        ensure_postgres_running(stack.env["CHRONOS_DATABASE_URL"])
    print(f"postgres restarted with runs {dict(in_flight)}; back after {outage:.1f}s")

    took = chronos.wait_settled(150)
    report = chronos.check(job_ids)
    worker_errors = chronos.count_in_logs(
        "worker", "failed (OperationalError); retrying", "heartbeat failed"
    )
    scheduler_errors = chronos.count_in_logs("scheduler", "database unavailable")
    print(
        f"postgres restart: settled {took:.1f}s after it came back; {report.lost} lost, "
        f"{report.retried} retried, {chronos.dropped_duplicates()} duplicates dropped; "
        f"database errors retried: workers {worker_errors}, scheduler {scheduler_errors}"
    )
    # The outage was felt (and survived) by the processes, not slipped between them.
    assert worker_errors > 0
    assert report.succeeded == count
    assert report.occurrences == count
    assert all(stack.processes[name].alive() for name in ("api", "scheduler", "worker"))
