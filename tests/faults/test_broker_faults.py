"""The scheduler's link to RabbitMQ goes through a proxy the test controls (the workers
connect directly): an outage stops the claiming until the broker is back, and a
blackholed broker, whose connections hang, holds back neither the rescue of lost runs
nor anything else PostgreSQL alone can do."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.stack import Process
from tests.e2e.waiting import Unmet, wait_for
from tests.faults.conftest import Faults, ensure_base
from tests.faults.proxy import TcpProxy

pytestmark = pytest.mark.timeout(180)

BREAKER_OPEN = "RabbitMQ unavailable; claiming stops"


@pytest.fixture
def proxy(chronos: Faults) -> Iterator[TcpProxy]:
    stack = chronos.stack
    through = TcpProxy()
    stack.stop_process("scheduler")
    scheduler = stack.spawn("scheduler", "scheduler", env={"CHRONOS_BROKER_URL": through.url()})
    try:
        stack.wait_consuming()
        yield through
    finally:
        through.close()
        if stack.processes.get("scheduler") is scheduler:
            stack.stop_process("scheduler")
        ensure_base(stack)


def scheduler_log(chronos: Faults) -> Process:
    return chronos.stack.processes["scheduler"]


def test_an_outage_stops_the_claiming_and_recovery_drains_it(
    chronos: Faults, proxy: TcpProxy
) -> None:
    proxy.set_mode("refuse")
    first = chronos.submit_batch([chronos.spec("noop") for _ in range(10)])
    wait_for(
        lambda: chronos.log_lines(scheduler_log(chronos), BREAKER_OPEN),
        30,
        interval=0.1,
        message="the scheduler to notice the outage",
    )
    opened = len(chronos.log_lines(scheduler_log(chronos), BREAKER_OPEN))
    second = chronos.submit_batch([chronos.spec("noop") for _ in range(10)])
    # Two more failed probes after the second wave was due: a scheduler that claimed
    # through the outage would have queued it by then.
    wait_for(
        lambda: len(chronos.log_lines(scheduler_log(chronos), BREAKER_OPEN)) >= opened + 2,
        60,
        interval=0.1,
        message="the scheduler to probe the broker again",
    )
    states = chronos.run_states(second)
    assert states == {"pending": 10}, f"runs claimed during the outage: {states}"

    proxy.set_mode("forward")
    chronos.wait_settled(60)
    report = chronos.check(first + second)
    assert report.succeeded == 20 == report.runs
    assert report.duplicates == 0
    assert chronos.log_lines(scheduler_log(chronos), "RabbitMQ is reachable again")


def test_a_blackholed_broker_does_not_hold_back_the_rescue(
    chronos: Faults, proxy: TcpProxy
) -> None:
    stack = chronos.stack
    lease = float(stack.env["CHRONOS_LEASE_SECONDS"])
    count = 4
    job_ids = chronos.submit_batch(
        [
            chronos.spec(
                "sleep", payload={"seconds": lease * 3}, max_attempts=2, retry_backoff_seconds=1
            )
            for _ in range(count)
        ]
    )

    def running() -> bool | Unmet:
        states = chronos.run_states(job_ids)
        return states["running"] == count or Unmet(dict(states))

    wait_for(running, 30, interval=0.1, message="the sleep runs to be running")
    proxy.set_mode("blackhole")
    # Due now: the scheduler claims them and its publish hangs on the blackhole.
    hung = chronos.submit_batch([chronos.spec("noop") for _ in range(5)])
    stack.kill_worker()
    killed = time.monotonic()

    def lost() -> bool | Unmet:
        states = chronos.run_states(job_ids)
        return states["lost"] == count or Unmet(dict(states))

    # The lease, a rescue period and slack: a rescuer stuck behind hung publishes
    # (20-60 s each before the fix) misses this.
    wait_for(lost, lease + 12, interval=0.2, message="the rescuer to mark the runs lost")
    print(f"blackhole: lost after {time.monotonic() - killed:.1f}s")
    stack.start_worker(wait=False)
    proxy.set_mode("forward")
    chronos.wait_settled(120)
    report = chronos.check(job_ids + hung)
    assert report.lost == count
    assert report.retried == count
    assert report.succeeded == count + len(hung)
    assert report.duplicates == 0
