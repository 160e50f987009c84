"""Waiting on jobs and runs through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.client import Client, parse_time
from tests.e2e.waiting import Unmet, wait_for

JOB_FINAL = {"succeeded", "failed", "cancelled"}
RUN_FINAL = {"succeeded", "failed", "cancelled", "skipped", "lost"}

Job = dict[str, Any]
Run = dict[str, Any]


def summary(job: Job) -> dict[str, Any]:
    last = job.get("last_run") or {}
    return {
        "status": job["status"],
        "next_run_at": job.get("next_run_at"),
        "run_count": job.get("run_count"),
        "last_run": {key: last.get(key) for key in ("attempt", "state", "error")},
    }


def wait_status(client: Client, job_id: str, status: str, timeout: float) -> Job:
    """Wait for the job to reach ``status``; a different final status fails at once."""

    def check() -> Job | Unmet:
        job = client.job(job_id)
        if job["status"] == status:
            return job
        if job["status"] in JOB_FINAL:
            raise AssertionError(f"job {job_id} ended {job['status']}, not {status}: {job}")
        return Unmet(summary(job))

    result: Job = wait_for(check, timeout, interval=0.1, message=f"job {job_id} to be {status}")
    return result


def wait_runs(
    client: Client,
    job_id: str,
    predicate: Callable[[list[Run]], Any],
    timeout: float,
    message: str,
    interval: float = 0.05,
) -> list[Run]:
    """Wait until ``predicate(runs)`` holds for the job's runs (oldest first)."""

    def check() -> list[Run] | Unmet:
        runs = client.runs(job_id)
        if predicate(runs):
            return runs
        return Unmet([(run["attempt"], run["state"], run.get("error")) for run in runs])

    result: list[Run] = wait_for(check, timeout, interval=interval, message=message)
    return result


def run_by_id(runs: list[Run], run_id: str) -> Run | None:
    return next((run for run in runs if run["id"] == run_id), None)


def wait_run_state(
    client: Client, job_id: str, run_id: str, state: str, timeout: float, interval: float = 0.05
) -> Run:
    def holds(runs: list[Run]) -> bool:
        run = run_by_id(runs, run_id)
        if run is not None and run["state"] != state and run["state"] in RUN_FINAL:
            raise AssertionError(f"run {run_id} ended {run['state']}, not {state}: {run}")
        return run is not None and run["state"] == state

    runs = wait_runs(client, job_id, holds, timeout, f"run {run_id} to be {state}", interval)
    found = run_by_id(runs, run_id)
    assert found is not None
    return found


def started(runs: list[Run]) -> list[Run]:
    return [run for run in runs if run.get("started_at") is not None]


def times(run: Run) -> tuple[float, float]:
    """(started_at, finished_at) as epoch seconds."""
    start, finish = parse_time(run["started_at"]), parse_time(run["finished_at"])
    assert start is not None, run
    assert finish is not None, run
    return start, finish
