"""Workers killed mid-run (the runs are lost and retried) or stopped gracefully (the runs
finish, or go back to the queue): nothing is lost without a trace, nothing stays running."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.e2e.waiting import Unmet, wait_for
from tests.faults.conftest import Faults

pytestmark = pytest.mark.timeout(120)


def all_running(chronos: Faults, job_ids: list[str], count: int) -> bool | Unmet:
    states = chronos.run_states(job_ids)
    return states["running"] == count or Unmet(dict(states))


def test_worker_kill9_mid_run_loses_and_retries(chronos: Faults) -> None:
    stack = chronos.stack
    count = 6
    job_ids = chronos.submit_batch(
        [
            chronos.spec("sleep", payload={"seconds": 4}, max_attempts=2, retry_backoff_seconds=1)
            for _ in range(count)
        ]
    )
    wait_for(
        lambda: all_running(chronos, job_ids, count),
        20,
        interval=0.1,
        message=f"{count} sleep runs to be running",
    )
    killed = time.monotonic()
    stack.kill_worker()
    stack.start_worker()

    took = chronos.wait_settled(60)
    report = chronos.check(job_ids)
    runs = chronos.runs(job_ids)
    first = {run["worker"] for run in runs if run["attempt"] == 1}
    second = {run["worker"] for run in runs if run["attempt"] == 2}
    print(
        f"worker kill -9: {report.lost} lost, {report.retried} retried, settled "
        f"{took:.1f}s ({time.monotonic() - killed:.1f}s after the kill)"
    )
    assert report.lost == count
    assert report.retried == count
    assert report.succeeded == count
    assert sorted((run["attempt"], run["state"]) for run in runs) == sorted(
        [(1, "lost")] * count + [(2, "succeeded")] * count
    )
    assert all(run["error"]["kind"] == "lost" for run in runs if run["state"] == "lost")
    assert not first & second, "a retry ran on the worker that was killed"


def test_worker_sigterm_finishes_or_hands_back_its_runs(chronos: Faults) -> None:
    """SIGTERM to the worker's main process (as ``kill <pid>``, ``docker stop`` or systemd
    do): runs in flight finish, messages it prefetched go back to the queue, and a new
    worker runs them. No run is left running, none is lost."""
    stack = chronos.stack
    threads = int(stack.env["CHRONOS_WORKER_PROCESSES"]) * int(stack.env["CHRONOS_WORKER_THREADS"])
    count = threads + 4
    job_ids = chronos.submit_batch(
        [chronos.spec("sleep", payload={"seconds": 3}) for _ in range(count)]
    )
    wait_for(
        lambda: all_running(chronos, job_ids, threads),
        20,
        interval=0.1,
        message=f"{threads} sleep runs to be running",
    )
    worker = stack.processes.pop("worker")
    stopping = time.monotonic()
    os.kill(worker.popen.pid, signal.SIGTERM)  # the dramatiq main process (bash exec'd it)
    try:
        worker.popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker did not exit within 30s of SIGTERM")
    finally:
        worker.stop()
    exited = time.monotonic() - stopping
    states = chronos.run_states(job_ids)
    print(f"worker SIGTERM: exited {worker.popen.returncode} after {exited:.1f}s; runs {states}")
    assert states["running"] == 0, f"runs left running by a graceful stop: {states}"
    assert states["lost"] == 0
    assert states["succeeded"] >= threads, f"runs in flight did not finish: {states}"
    assert chronos.log_lines(worker, "Stopping worker process")

    stack.start_worker()
    took = chronos.wait_settled(40)
    report = chronos.check(job_ids)
    print(f"worker SIGTERM: a new worker finished the rest in {took:.1f}s")
    assert report.succeeded == count == report.runs
    assert report.lost == 0


def test_worker_group_sigterm_as_honcho_sends_it(chronos: Faults) -> None:
    """``honcho start`` (the Procfile runner) stops a process by SIGTERM to its whole
    process group, so every Dramatiq worker process gets SIGTERM twice: once directly
    and once forwarded by the Dramatiq main process."""
    stack = chronos.stack
    threads = int(stack.env["CHRONOS_WORKER_PROCESSES"]) * int(stack.env["CHRONOS_WORKER_THREADS"])
    job_ids = chronos.submit_batch(
        [chronos.spec("sleep", payload={"seconds": 3}) for _ in range(threads)]
    )
    wait_for(
        lambda: all_running(chronos, job_ids, threads),
        20,
        interval=0.1,
        message=f"{threads} sleep runs to be running",
    )
    worker = stack.processes.pop("worker")
    worker.signal_group(signal.SIGTERM)
    try:
        worker.popen.wait(timeout=30)
    finally:
        worker.stop()
    states = chronos.run_states(job_ids)
    print(
        f"group SIGTERM: exited {worker.popen.returncode}; runs {states}; "
        f"{chronos.log_lines(worker, 'Killing worker process')}"
    )
    stack.start_worker()
    chronos.wait_settled(40)
    report = chronos.check(job_ids)
    assert states["running"] == 0, f"runs left running by a graceful stop: {states}"
    assert report.lost == 0
