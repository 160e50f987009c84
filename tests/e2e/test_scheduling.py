"""Run now, run at a time, repeat, reschedule, pause/resume and trigger, end to end."""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest

from tests.e2e.client import Client, future, parse_time, rfc3339
from tests.e2e.flow import run_by_id, started, wait_run_state, wait_runs, wait_status
from tests.e2e.target import Target
from tests.e2e.waiting import hold_for, wait_for

pytestmark = pytest.mark.timeout(120)

# The target is 1 s on an idle system; the assertion keeps some slack.
MAX_LAG = 1.5
CLOCK_RESOLUTION = 0.001


def http_payload(target: Target, path: str) -> dict[str, object]:
    return {"url": target.url(path), "method": "POST", "json": {"path": path}}


def test_run_now_http_job_succeeds(api: Client, target: Target) -> None:
    path = target.new_path("now")
    job = api.submit(type="http", payload=http_payload(target, path))
    assert job["recurring"] is False

    done = wait_status(api, job["id"], "succeeded", timeout=15)

    runs = api.runs(job["id"])
    assert [(run["attempt"], run["state"]) for run in runs] == [(1, "succeeded")]
    run = runs[0]
    assert run["result"]["status_code"] == 200
    assert run["error"] is None
    started_at, finished_at = parse_time(run["started_at"]), parse_time(run["finished_at"])
    assert started_at is not None
    assert finished_at is not None
    assert started_at <= finished_at
    assert done["last_run"]["id"] == run["id"]
    assert done["next_run_at"] is None
    calls = target.calls(path)
    assert len(calls) == 1
    assert json.loads(calls[0].body) == {"path": path}


def test_run_at_future_time_is_not_early_and_on_time(api: Client, target: Target) -> None:
    path = target.new_path("at")
    run_at, run_at_epoch = future(3)
    job = api.submit(type="http", payload=http_payload(target, path), schedule={"run_at": run_at})
    assert job["status"] == "scheduled"
    assert job["next_run_at"] == run_at

    arrivals = wait_for(
        lambda: target.arrivals(path), timeout=3 + 10, message="the target to be called"
    )
    lag = arrivals[0] - run_at_epoch
    print(f"run_at lag: {lag * 1000:.1f} ms")
    assert lag >= -CLOCK_RESOLUTION, f"called {-lag:.3f}s BEFORE run_at"
    assert lag <= MAX_LAG, f"called {lag:.3f}s after run_at"

    wait_status(api, job["id"], "succeeded", timeout=10)
    runs = api.runs(job["id"])
    assert len(runs) == 1
    assert runs[0]["scheduled_for"] == run_at
    assert len(target.calls(path)) == 1


def test_interval_job_with_max_runs(api: Client, target: Target) -> None:
    path = target.new_path("interval")
    job = api.submit(
        type="http",
        payload=http_payload(target, path),
        schedule={"interval_seconds": 1, "max_runs": 3},
    )
    assert job["recurring"] is True

    done = wait_status(api, job["id"], "succeeded", timeout=15)
    assert done["run_count"] == 3
    assert done["next_run_at"] is None
    # Exhausted: no fourth call comes.
    hold_for(lambda: len(target.calls(path)) <= 3, 1.5, message="at most 3 calls")
    arrivals = target.arrivals(path)
    assert len(arrivals) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    print("interval gaps:", [f"{gap:.3f}" for gap in gaps])
    assert all(0.5 <= gap <= 2.5 for gap in gaps), gaps

    runs = api.runs(job["id"])
    assert [run["state"] for run in runs] == ["succeeded"] * 3
    occurrences = [parse_time(run["scheduled_for"]) for run in runs]
    steps = [
        round(later - earlier, 3)  # type: ignore[operator]
        for earlier, later in itertools.pairwise(occurrences)
    ]
    assert steps == [1.0, 1.0], occurrences
    assert api.expect("GET", f"/jobs/{job['id']}/upcoming?count=3", 200)["items"] == []


def test_cron_upcoming_and_trigger(api: Client) -> None:
    # Keep clear of a minute boundary so that "the next one" cannot move under the test.
    wait_for(lambda: time.time() % 60 < 50, timeout=11, message="a time clear of :50")
    before = time.time()
    job = api.submit(type="noop", schedule={"cron": "* * * * *"})
    expected = math.floor(before / 60) * 60 + 60

    upcoming = api.expect("GET", f"/jobs/{job['id']}/upcoming?count=3", 200)["items"]
    assert upcoming == [rfc3339(expected + 60 * index) for index in range(3)]
    assert job["next_run_at"] == rfc3339(expected)
    assert job["schedule"]["timezone"] == "UTC"

    status, run = api.post(f"/jobs/{job['id']}/trigger")
    assert status == 202, run
    assert run["job_id"] == job["id"]
    done = wait_run_state(api, job["id"], run["id"], "succeeded", timeout=15)
    assert done["started_at"] is not None
    # The extra run leaves the schedule alone (checked only while that minute is ahead).
    next_run_at = api.job(job["id"])["next_run_at"]
    if time.time() < expected - 1:
        assert next_run_at == rfc3339(expected)


def test_reschedule_earlier(api: Client, target: Target) -> None:
    path = target.new_path("earlier")
    job = api.submit(
        type="http", payload=http_payload(target, path), schedule={"run_at": future(60)[0]}
    )
    new_at, new_epoch = future(2)
    moved = api.expect("PUT", f"/jobs/{job['id']}/reschedule", 200, {"run_at": new_at})
    assert moved["next_run_at"] == new_at
    assert moved["status"] == "scheduled"

    arrivals = wait_for(lambda: target.arrivals(path), timeout=12, message="the target call")
    lag = arrivals[0] - new_epoch
    print(f"rescheduled-earlier lag: {lag * 1000:.1f} ms")
    assert -CLOCK_RESOLUTION <= lag <= MAX_LAG
    wait_status(api, job["id"], "succeeded", timeout=10)
    assert [run["state"] for run in api.runs(job["id"]) if run["state"] != "cancelled"] == [
        "succeeded"
    ]
    assert len(target.calls(path)) == 1


def test_reschedule_later(api: Client, target: Target) -> None:
    path = target.new_path("later")
    old_at, old_epoch = future(2)
    job = api.submit(type="http", payload=http_payload(target, path), schedule={"run_at": old_at})
    new_at, _ = future(60)
    moved = api.expect("PUT", f"/jobs/{job['id']}/reschedule", 200, {"run_at": new_at})
    assert moved["next_run_at"] == new_at

    # Watch past the old time: nothing runs.
    window = max(0.0, old_epoch + 1.0 - time.time())
    hold_for(lambda: not target.calls(path), window, message="no call to the target")
    current = api.job(job["id"])
    assert current["status"] == "scheduled"
    assert current["next_run_at"] == new_at
    runs = api.runs(job["id"])
    assert not started(runs), runs
    pending = [run for run in runs if run["state"] == "pending"]
    assert [run["scheduled_for"] for run in pending] == [new_at]


def test_reschedule_finished_one_off_runs_again(api: Client, target: Target) -> None:
    path = target.new_path("again")
    job = api.submit(type="http", payload=http_payload(target, path))
    wait_status(api, job["id"], "succeeded", timeout=15)

    moved = api.expect(
        "PUT", f"/jobs/{job['id']}/reschedule", 200, {"run_at": rfc3339(time.time())}
    )
    assert moved["status"] in {"scheduled", "queued", "running", "succeeded"}

    runs = wait_runs(
        api,
        job["id"],
        lambda runs: [run["state"] for run in runs] == ["succeeded", "succeeded"],
        timeout=15,
        message="two succeeded runs",
    )
    assert runs[0]["scheduled_for"] != runs[1]["scheduled_for"]
    assert wait_status(api, job["id"], "succeeded", timeout=5)["last_run"]["id"] == runs[1]["id"]
    assert len(target.calls(path)) == 2


def test_pause_and_resume(api: Client, target: Target) -> None:
    path = target.new_path("pause")
    job = api.submit(
        type="http", payload=http_payload(target, path), schedule={"interval_seconds": 1}
    )
    wait_for(lambda: len(target.calls(path)) >= 2, timeout=10, message="two calls")

    paused = api.expect("POST", f"/jobs/{job['id']}/pause", 200)
    assert paused["status"] == "paused"
    # A run the scheduler had already handed to RabbitMQ may still start; nothing else may.
    runs = api.runs(job["id"])
    allowed = len([run for run in runs if run["state"] in {"queued", "running"}]) + len(
        started(runs)
    )
    calls_at_pause = len(target.calls(path))
    allowed_calls = calls_at_pause + len([run for run in runs if run["state"] == "queued"])

    def still_paused() -> bool:
        now_runs = api.runs(job["id"])
        return (
            len(started(now_runs)) <= allowed
            and len(target.calls(path)) <= allowed_calls
            and api.job(job["id"])["status"] == "paused"
        )

    hold_for(still_paused, 2.5, interval=0.2, message="no new run while paused")

    resumed_at = time.time()
    resumed = api.expect("POST", f"/jobs/{job['id']}/resume", 200)
    assert resumed["status"] != "paused"
    assert resumed["next_run_at"] is not None
    count_at_resume = len(target.calls(path))
    wait_for(
        lambda: len(target.calls(path)) >= count_at_resume + 2,
        timeout=6,
        message="calls to start again after resume",
    )
    print(f"first call after resume: {target.arrivals(path)[count_at_resume] - resumed_at:.3f}s")


def test_trigger_runs_now_and_keeps_the_schedule(api: Client, target: Target) -> None:
    path = target.new_path("trigger")
    run_at, _ = future(3600)
    job = api.submit(type="http", payload=http_payload(target, path), schedule={"run_at": run_at})

    status, run = api.post(f"/jobs/{job['id']}/trigger")
    assert status == 202, run
    assert run["job_id"] == job["id"]
    assert run["state"] in {"pending", "queued", "running", "succeeded"}
    done = wait_run_state(api, job["id"], run["id"], "succeeded", timeout=15)
    assert done["result"]["status_code"] == 200
    assert len(target.calls(path)) == 1

    current = api.job(job["id"])
    assert current["next_run_at"] == run_at
    assert current["status"] == "scheduled"
    runs = api.runs(job["id"])
    scheduled = [r for r in runs if r["id"] != run["id"]]
    assert [(r["state"], r["scheduled_for"]) for r in scheduled] == [("pending", run_at)]
    assert run_by_id(runs, run["id"]) is not None
