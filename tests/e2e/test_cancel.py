"""Cancelling scheduled and running work, and deleting a user with jobs in flight."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import Client, future, parse_time
from tests.e2e.flow import started, times, wait_run_state, wait_runs, wait_status
from tests.e2e.stack import Stack
from tests.e2e.target import Target
from tests.e2e.waiting import hold_for, wait_for

pytestmark = pytest.mark.timeout(120)

MAX_CANCEL_SECONDS = 5.0


def test_cancel_scheduled_job(api: Client, target: Target) -> None:
    path = target.new_path("cancel-scheduled")
    job = api.submit(
        type="http",
        payload={"url": target.url(path)},
        schedule={"run_at": future(60)[0]},
    )
    cancelled = api.expect("DELETE", f"/jobs/{job['id']}", 200)
    assert cancelled["status"] == "cancelled"
    # Idempotent.
    assert api.expect("DELETE", f"/jobs/{job['id']}", 200)["status"] == "cancelled"
    assert api.expect("GET", f"/jobs/{job['id']}/upcoming", 200)["items"] == []

    def quiet() -> bool:
        runs = api.runs(job["id"])
        return (
            bool(runs)
            and all(run["state"] == "cancelled" for run in runs)
            and not target.calls(path)
        )

    hold_for(quiet, 2.0, interval=0.2, message="the run stays cancelled, the target uncalled")
    assert api.job(job["id"])["status"] == "cancelled"


def processes_with_argv(argv: list[str]) -> list[int]:
    """The pids whose command line is exactly ``argv``."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _submit_long_running(
    kind: str, request: pytest.FixtureRequest, target: Target
) -> tuple[Client, dict[str, Any], Callable[[], bool]]:
    """Submit a job of ``kind`` that would run for a minute.

    Returns the client, the job, and a check that the work itself has stopped (the
    request was dropped, the child process is gone)."""
    if kind == "sleep":
        client: Client = request.getfixturevalue("api")
        return client, client.submit(type="sleep", payload={"seconds": 60}), lambda: True
    if kind == "http":
        client = request.getfixturevalue("api")
        path = target.new_path("hang")
        target.hang(path, 60)
        job = client.submit(
            type="http", payload={"url": target.url(path), "method": "GET", "timeout_seconds": 90}
        )
        wait_for(lambda: target.calls(path), timeout=15, message="the hanging request")
        return client, job, lambda: target.calls(path)[0].disconnected_at is not None
    client = request.getfixturevalue("admin_api")
    # A unique duration (GNU sleep takes fractions) makes the child findable in /proc.
    argv = ["sleep", f"60.{uuid.uuid4().int % 10**6:06d}"]
    job = client.submit(type="shell", payload={"argv": argv})
    wait_for(lambda: processes_with_argv(argv), timeout=15, message="the shell child process")
    return client, job, lambda: not processes_with_argv(argv)


@pytest.mark.parametrize("kind", ["sleep", "http", "shell"])
def test_cancel_running_job(kind: str, request: pytest.FixtureRequest, target: Target) -> None:
    client, job, work_stopped = _submit_long_running(kind, request, target)
    runs = wait_runs(
        client,
        job["id"],
        lambda runs: runs and runs[0]["state"] == "running",
        timeout=15,
        message="the run to be running",
    )
    run = runs[0]

    began = time.monotonic()
    cancelled = client.expect("DELETE", f"/jobs/{job['id']}", 200)
    assert cancelled["status"] == "cancelled"
    done = wait_run_state(
        client, job["id"], run["id"], "cancelled", timeout=MAX_CANCEL_SECONDS + 10
    )
    elapsed = time.monotonic() - began
    print(f"{kind}: running run cancelled {elapsed:.3f}s after DELETE")
    assert elapsed <= MAX_CANCEL_SECONDS
    wait_for(
        work_stopped, timeout=max(0.1, MAX_CANCEL_SECONDS - elapsed), message="the work to stop"
    )
    assert done["error"]["kind"] == "cancelled"
    assert done["finished_at"] is not None
    start, finish = times(done)
    assert finish - start < 30
    assert client.job(job["id"])["status"] == "cancelled"
    assert len(client.runs(job["id"])) == 1


def test_deleting_a_user_stops_their_jobs(
    stack_ready: Stack, api: Client, admin_api: Client, target: Target
) -> None:
    user_id, token = api.create_user("doomed")
    victim = Client(stack_ready.url, token)
    sleeper = victim.submit(type="sleep", payload={"seconds": 60})
    path = target.new_path("doomed")
    ticker = victim.submit(
        type="http", payload={"url": target.url(path)}, schedule={"interval_seconds": 1}
    )
    wait_runs(
        victim,
        sleeper["id"],
        lambda runs: runs and runs[0]["state"] == "running",
        timeout=15,
        message="the sleep run to be running",
    )
    wait_for(lambda: target.calls(path), timeout=10, message="the interval job's first call")

    status, body = victim.delete(f"/users/{user_id}/delete")
    assert status == 204, body
    deleted_at = time.time()
    for job in (sleeper, ticker):
        assert admin_api.request("GET", f"/jobs/{job['id']}")[0] == 404

    # A call already in flight may land just after; nothing is sent later than that.
    def no_new_calls() -> bool:
        return all(arrival <= deleted_at + 0.5 for arrival in target.arrivals(path))

    hold_for(no_new_calls, 2.5, interval=0.1, message="no calls after the user was deleted")

    # The sleep run's worker thread is free again: four sleeps (as many as the worker
    # has threads) of another user all run at the same time.
    jobs = [api.submit(type="sleep", payload={"seconds": 3}) for _ in range(4)]
    for job in jobs:
        wait_status(api, job["id"], "succeeded", timeout=20)
    spans = [times(api.runs(job["id"])[0]) for job in jobs]
    last_start = max(start for start, _ in spans)
    first_finish = min(finish for _, finish in spans)
    assert last_start < first_finish, (
        f"the four sleeps did not all run at once (a thread is still busy?): {spans}"
    )


def test_cancel_running_run_keeps_the_interval_schedule_cancelled(
    api: Client, target: Target
) -> None:
    """Cancelling a recurring job leaves nothing pending: the target stays quiet."""
    path = target.new_path("cancel-interval")
    job = api.submit(
        type="http", payload={"url": target.url(path)}, schedule={"interval_seconds": 1}
    )
    wait_for(lambda: len(target.calls(path)) >= 1, timeout=10, message="a first call")
    assert api.expect("DELETE", f"/jobs/{job['id']}", 200)["status"] == "cancelled"
    cancelled_at = time.time()
    hold_for(
        lambda: all(arrival <= cancelled_at + 0.5 for arrival in target.arrivals(path)),
        2.5,
        message="no calls after cancel",
    )
    runs = api.runs(job["id"])
    assert not [run for run in runs if run["state"] in {"pending", "queued", "running"}], runs
    assert all(
        parse_time(run["started_at"]) <= cancelled_at + 0.5  # type: ignore[operator]
        for run in started(runs)
    )
