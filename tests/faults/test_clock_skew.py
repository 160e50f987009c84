"""A scheduler whose host clock is a minute ahead and a worker whose clock is a minute
behind (CHRONOS_TEST_CLOCK_OFFSET_SECONDS, honoured outside production only): PostgreSQL's
clock decides, so no run starts early or late, none is falsely lost, none runs twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.clock import SKEW_VARIABLE
from tests.faults.conftest import Faults, ensure_base

pytestmark = pytest.mark.timeout(150)

SKEW = 60.0


@pytest.fixture
def skewed(chronos: Faults) -> Iterator[Faults]:
    stack = chronos.stack
    for name in ("scheduler", "worker"):
        stack.stop_process(name)
    scheduler = stack.spawn("scheduler", "scheduler", env={SKEW_VARIABLE: str(SKEW)})
    worker = stack.spawn("worker", "worker", env={SKEW_VARIABLE: str(-SKEW)})
    try:
        stack.wait_consuming()
        yield chronos
    finally:
        # Back to honest clocks for the next tests.
        for process in (scheduler, worker):
            if stack.processes.get(process.name) is process:
                stack.stop_process(process.name)
        ensure_base(stack)


def test_skewed_hosts_follow_the_database_clock(skewed: Faults) -> None:
    chronos = skewed
    path = chronos.target.new_path("clock-skew")
    due = time.time() + 4.0
    lease = float(chronos.stack.env["CHRONOS_LEASE_SECONDS"])
    specs = [chronos.http_spec(path, due + index * 0.05) for index in range(20)]
    # Longer than the lease: a worker whose heartbeats looked a minute old would lose them.
    specs += [
        chronos.spec("sleep", due, payload={"seconds": lease * 2}, max_attempts=2) for _ in range(4)
    ]
    job_ids = chronos.submit_batch(specs)

    chronos.wait_settled(90)
    report = chronos.check(job_ids)
    runs = chronos.runs(job_ids)
    assert report.lost == 0, "a skewed worker's heartbeats were taken for a dead worker's"
    assert report.duplicates == 0
    assert report.succeeded == len(specs) == report.runs
    for run in runs:
        early = run["scheduled_for"] - run["started_at"]
        assert early <= timedelta(0), f"run {run['id']} started {early} before it was due"
        late = run["started_at"] - run["scheduled_for"]
        # Well under the skew: a worker or scheduler on its own clock would be a minute off.
        assert late < timedelta(seconds=SKEW / 2), f"run {run['id']} started {late} late"
    chronos.assert_http_once(path, job_ids)
    skew_warnings = chronos.count_in_logs("scheduler", "off PostgreSQL's") + chronos.count_in_logs(
        "worker", "off PostgreSQL's"
    )
    assert skew_warnings >= 2, "the skewed processes did not report their clock offset"
