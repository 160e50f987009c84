"""Retries, timeouts, and processes killed mid-flight."""

from __future__ import annotations

import time

import pytest

from tests.e2e.client import Client, future
from tests.e2e.flow import times, wait_run_state, wait_runs, wait_status
from tests.e2e.stack import Stack
from tests.e2e.target import Target
from tests.e2e.waiting import hold_for, wait_for

pytestmark = pytest.mark.timeout(150)

JITTER = 0.10
# Time from a retry coming due to the worker starting it (scheduler wake-up, publish).
DISPATCH_SLACK = 1.0
MS = 0.002  # the API's millisecond rounding, on both ends of a gap


def test_retries_back_off_exponentially(api: Client) -> None:
    backoff = 1
    job = api.submit(
        type="fail",
        payload={"message": "boom"},
        max_attempts=3,
        retry_backoff_seconds=backoff,
    )
    wait_status(api, job["id"], "failed", timeout=30)

    runs = api.runs(job["id"])
    assert [(run["attempt"], run["state"]) for run in runs] == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
    ]
    assert {run["scheduled_for"] for run in runs} == {runs[0]["scheduled_for"]}
    assert all(run["error"]["kind"] == "exception" for run in runs)
    assert all("boom" in run["error"]["message"] for run in runs)
    spans = [times(run) for run in runs]
    gaps = [spans[index + 1][0] - spans[index][1] for index in range(2)]
    print(f"retry gaps: {gaps[0]:.3f}s, {gaps[1]:.3f}s")
    for gap, expected in zip(gaps, (backoff, 2 * backoff), strict=True):
        assert expected * (1 - JITTER) - MS <= gap <= expected * (1 + JITTER) + DISPATCH_SLACK
    assert gaps[1] > gaps[0]


def test_timeout_stops_a_long_run(api: Client) -> None:
    submitted = time.monotonic()
    job = api.submit(type="sleep", payload={"seconds": 30}, timeout_seconds=2)
    wait_status(api, job["id"], "failed", timeout=12)
    total = time.monotonic() - submitted
    runs = api.runs(job["id"])
    assert len(runs) == 1
    run = runs[0]
    assert run["state"] == "failed"
    assert run["error"]["kind"] == "timeout"
    start, finish = times(run)
    print(f"timeout: run stopped {finish - start:.3f}s after it started ({total:.3f}s overall)")
    assert 2.0 - MS <= finish - start <= 5.0
    assert total <= 8.0


@pytest.mark.timeout(180)
def test_worker_killed_mid_run_is_lost_and_retried(stack_ready: Stack, api: Client) -> None:
    job = api.submit(type="sleep", payload={"seconds": 8}, max_attempts=2, retry_backoff_seconds=1)
    first = wait_runs(
        api,
        job["id"],
        lambda runs: runs and runs[0]["state"] == "running",
        timeout=15,
        message="attempt 1 to be running",
    )[0]

    stack_ready.kill_worker()
    killed_at = time.monotonic()
    stack_ready.start_worker()

    lost = wait_run_state(api, job["id"], first["id"], "lost", timeout=25, interval=0.2)
    lost_after = time.monotonic() - killed_at
    print(f"kill -9: run marked lost {lost_after:.3f}s after the kill")
    assert lost["error"]["kind"] == "lost"
    assert lost["finished_at"] is not None
    assert lost_after <= 15

    wait_status(api, job["id"], "succeeded", timeout=40)
    runs = api.runs(job["id"])
    assert [(run["attempt"], run["state"]) for run in runs] == [(1, "lost"), (2, "succeeded")]
    assert runs[0]["scheduled_for"] == runs[1]["scheduled_for"]
    assert runs[0]["worker"] != runs[1]["worker"]
    print(f"kill -9: retry succeeded {time.monotonic() - killed_at:.3f}s after the kill")


def test_scheduler_killed_loses_nothing(stack_ready: Stack, api: Client, target: Target) -> None:
    path = target.new_path("scheduler-down")
    stack_ready.processes["scheduler"].kill()
    del stack_ready.processes["scheduler"]
    try:
        job = api.submit(type="http", payload={"url": target.url(path)})
        assert api.job(job["id"])["status"] == "scheduled"
    finally:
        stack_ready.spawn("scheduler", "scheduler")
    restarted = time.monotonic()
    wait_status(api, job["id"], "succeeded", timeout=30)
    print(f"scheduler restart: job ran {time.monotonic() - restarted:.3f}s after the restart")
    hold_for(lambda: len(target.calls(path)) == 1, 1.0, message="exactly one call")
    assert len(api.runs(job["id"])) == 1


def test_scheduler_restart_keeps_future_runs(
    stack_ready: Stack, api: Client, target: Target
) -> None:
    path = target.new_path("scheduler-restart")
    run_at, run_at_epoch = future(2)
    job = api.submit(type="http", payload={"url": target.url(path)}, schedule={"run_at": run_at})
    stack_ready.restart_scheduler()
    arrivals = wait_for(lambda: target.arrivals(path), timeout=20, message="the call")
    assert arrivals[0] >= run_at_epoch - 0.001
    wait_status(api, job["id"], "succeeded", timeout=10)
    assert len(target.calls(path)) == 1
