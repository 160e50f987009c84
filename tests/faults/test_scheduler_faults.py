"""Schedulers killed mid-dispatch, crashing between the claim and the publish, and
racing each other: every due occurrence is dispatched and started exactly once."""

from __future__ import annotations

import random
import time

import pytest

from tests.e2e.target import Target
from tests.e2e.waiting import Unmet, wait_for
from tests.faults.conftest import Faults, queue_depth

pytestmark = pytest.mark.timeout(150)


def test_scheduler_kill9_at_random_moments(chronos: Faults, target: Target) -> None:
    """~300 noop/http runs come due over four seconds while the scheduler is SIGKILLed
    and restarted four times; each occurrence runs once, each http run calls once."""
    rng = random.Random()
    path = target.new_path("scheduler-kill")
    first = time.time() + 3.0
    window = 5.0
    specs = []
    for index in range(300):
        run_at = first + rng.uniform(0, window)
        if index % 3 == 0:
            specs.append(chronos.http_spec(path, run_at))
        else:
            specs.append(chronos.spec("noop", run_at))
    job_ids = chronos.submit_batch(specs)
    stack = chronos.stack
    wait_for(lambda: time.time() >= first, 10, interval=0.05, message="the first run to be due")

    kills = 0
    while kills < 5 and time.time() < first + window + 1.0:
        scheduler = stack.processes["scheduler"]
        wait_for(
            lambda scheduler=scheduler: chronos.log_lines(
                scheduler, "scheduler started", whole=True
            ),
            30,
            interval=0.05,
            message="the scheduler to start",
        )
        time.sleep(rng.uniform(0.0, 0.8))  # a random moment, not a wait for a condition
        stack.restart_scheduler(hard=True)
        kills += 1
        print(f"kill {kills} at +{time.time() - first:.2f}s: {dict(chronos.run_states())}")
    print(f"scheduler kill -9: {kills} kills")

    took = chronos.wait_settled(60)
    report = chronos.check(job_ids)
    calls = chronos.assert_http_once(path, job_ids)
    republished = sum(
        len(chronos.log_lines(process, "queued runs again (no confirmed publish)"))
        for process in stack.history
        if process.name == "scheduler"
    )
    print(
        f"settled {took:.1f}s after the last kill; {calls} http calls; "
        f"{chronos.dropped_duplicates()} duplicate deliveries dropped; "
        f"{republished} re-publish passes"
    )
    assert kills >= 3
    assert report.occurrences == 300
    assert report.succeeded == 300
    assert report.runs == 300
    assert calls == len([spec for spec in specs if spec["type"] == "http"])


def test_crash_between_claim_and_publish(chronos: Faults, target: Target) -> None:
    """A scheduler that dies right after committing its claim leaves queued runs with no
    published_at; another scheduler publishes them again and they run once."""
    stack = chronos.stack
    stack.stop_process("scheduler")
    crashing = stack.spawn(
        "scheduler-crash", "scheduler", env={"CHRONOS_TEST_CRASH_AFTER_CLAIM": "1"}
    )
    path = target.new_path("crash-after-claim")
    run_at = time.time() + 3.0
    specs = [chronos.spec("noop", run_at) for _ in range(30)]
    specs += [chronos.http_spec(path, run_at) for _ in range(10)]
    job_ids = chronos.submit_batch(specs)

    crashing.popen.wait(timeout=30)
    assert crashing.popen.returncode == 17, crashing.popen.returncode
    stack.processes.pop("scheduler-crash").stop()
    assert chronos.log_lines(crashing, "test fault point CHRONOS_TEST_CRASH_AFTER_CLAIM")

    runs = chronos.runs(job_ids)
    claimed = [run for run in runs if run["state"] == "queued"]
    assert claimed, f"nothing claimed before the crash: {dict(chronos.run_states())}"
    assert all(run["published_at"] is None for run in claimed)
    assert all(run["state"] in {"queued", "pending"} for run in runs)
    assert not target.calls(path)
    print(f"fault point: exited 17 with {len(claimed)} runs queued and unpublished")

    restarted = time.monotonic()
    stack.spawn("scheduler", "scheduler")
    took = chronos.wait_settled(60)
    report = chronos.check(job_ids)
    calls = chronos.assert_http_once(path, job_ids)
    print(
        f"recovered and settled {took:.1f}s after the restart ({time.monotonic() - restarted:.1f}s)"
    )
    assert report.succeeded == len(specs) == report.runs
    assert calls == 10
    assert chronos.log_lines(
        stack.processes["scheduler"], "queued runs again (no confirmed publish)"
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("schedulers", [2, 3])
def test_schedulers_race_for_runs_due_in_the_same_second(chronos: Faults, schedulers: int) -> None:
    stack = chronos.stack
    for index in range(1, schedulers):
        stack.spawn(f"scheduler-{index}", "scheduler")
    count = 2000
    run_at = time.time() + 8.0
    submitted = time.monotonic()
    job_ids = chronos.submit_batch([chronos.spec("noop", run_at) for _ in range(count)])
    inserted = time.time()
    print(f"race: {count} jobs inserted in {time.monotonic() - submitted:.1f}s")
    assert inserted < run_at, "the jobs were not all inserted before they came due"
    stack.check_alive()

    took = chronos.wait_settled(75)
    report = chronos.check(job_ids)
    runs = chronos.runs(job_ids)
    assert report.runs == count
    assert report.succeeded == count
    assert report.started == count
    assert report.lost == 0
    assert report.retried == 0
    assert len({run["job_id"] for run in runs}) == count
    dropped = chronos.dropped_duplicates()
    # Every message was consumed: what is left in the queue would be a second message.
    depth = wait_for(
        lambda: (d := queue_depth(stack, "default")) == 0 or Unmet(d),
        10,
        interval=0.2,
        message="the queue to be empty",
    )
    spread = max(run["queued_at"] for run in runs) - min(run["queued_at"] for run in runs)
    print(
        f"race with {schedulers} schedulers: {count} runs settled in {took:.1f}s after insert; "
        f"claims spread over {spread.total_seconds():.2f}s; duplicate deliveries dropped by "
        f"workers: {dropped}; queue empty: {depth}"
    )
