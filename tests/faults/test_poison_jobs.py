"""Poison jobs: a handler that kills its process, and one that ignores cancellation.
Neither takes down the worker, its other runs, or the stack; each ends as a failed run
that says why, and a crashing one is not retried without limit."""

from __future__ import annotations

import pytest

from tests.e2e.waiting import wait_for
from tests.faults.conftest import Faults

pytestmark = pytest.mark.timeout(150)


def test_a_handler_that_kills_its_process_fails_its_run_alone(chronos: Faults) -> None:
    innocent = chronos.submit_batch(
        [chronos.spec("sleep", payload={"seconds": 2}) for _ in range(6)]
        + [chronos.spec("custom_ok") for _ in range(4)]
    )
    poison = chronos.submit_batch(
        [
            chronos.spec(job_type, max_attempts=10, retry_backoff_seconds=0)
            for job_type in ("poison_exit", "poison_segv", "poison_exit", "poison_segv")
        ]
    )
    worker = chronos.stack.processes["worker"]
    chronos.wait_settled(60)  # checks every process is alive throughout
    assert worker.alive(), "the worker died with its poison run"
    report = chronos.check(innocent + poison)
    assert report.lost == 0
    assert report.duplicates == 0
    assert chronos.run_states(innocent) == {"succeeded": 10}
    runs = chronos.runs(poison)
    # Rule: two crashed attempts in a row fail the occurrence for good.
    assert sorted((run["attempt"], run["state"]) for run in runs) == sorted(
        [(1, "failed"), (2, "failed")] * len(poison)
    )
    assert {run["error"]["kind"] for run in runs} == {"crashed"}
    messages = {run["error"]["message"] for run in runs}
    assert "the handler's process exited with status 3" in messages
    assert "the handler's process was killed by SIGSEGV" in messages
    for job_id in poison:
        assert chronos.api.job(job_id)["status"] == "failed"


def test_a_handler_that_ignores_cancellation_is_stopped(chronos: Faults) -> None:
    timed_out = chronos.submit_batch(
        [chronos.spec("stuck", timeout_seconds=2, max_attempts=1) for _ in range(3)]
    )
    chronos.wait_settled(40, timed_out)
    report = chronos.check(timed_out)
    assert report.lost == 0
    runs = chronos.runs(timed_out)
    assert {(run["state"], run["error"]["kind"]) for run in runs} == {("failed", "timeout")}

    cancelled = chronos.submit_batch([chronos.spec("stuck", max_attempts=1)])

    def running() -> bool:
        return chronos.run_states(cancelled)["running"] == 1

    wait_for(running, 20, interval=0.1, message="the stuck run to start")
    chronos.api.expect("DELETE", f"/jobs/{cancelled[0]}", 200)
    chronos.wait_settled(40, cancelled)
    chronos.check(cancelled)
    assert chronos.run_states(cancelled) == {"cancelled": 1}
    # The worker's threads are free again: a normal run still goes through.
    after = chronos.submit_batch([chronos.spec("noop")])
    chronos.wait_settled(30, after)
    assert chronos.run_states(after) == {"succeeded": 1}
