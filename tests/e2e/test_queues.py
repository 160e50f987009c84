"""Queue controls and the fair claim (issue 11), through the real processes.

A stack of this module's own, with two schedulers and two worker processes (two worker
CLIs of one process each, as two hosts would run them) that consume every queue, so the
claim's limits are shared across processes as in production:

- ``held``: pausing it holds its due runs as ``pending`` while a run that had started
  goes on; resuming dispatches them, each job following its misfire policy.
- ``capped``: a concurrency limit of 3 is never exceeded, sampled from the database and
  checked exactly from the runs' start and finish times, and it is reached.
- ``shared``: one owner's flood of 5,000 runs delays another owner's single run by at
  most one claim batch plus the dispatch backlog bound (``CHRONOS_QUEUE_BACKLOG``, set
  to 100 here), while thousands of the flood's runs, all due before it, are still
  waiting: a plain FIFO claim would start all of them first.

What HTTP cannot show, how many runs are running at the same instant, is sampled from
the database, as the fault tests read it; everything else goes through the API. Times
that runs record are compared on one clock: each worker process's own reading of
PostgreSQL's clock is off by a few tenths of a second (:func:`worker_clock_offsets`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from shared.db import make_engine
from tests.e2e.client import Client, parse_time, rfc3339
from tests.e2e.flow import Run, times, wait_runs, wait_status
from tests.e2e.stack import Stack, own_stack
from tests.e2e.waiting import Unmet, hold_for, wait_for
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.timeout(180)

QUEUES = ("default", "held", "capped", "shared")
SCHEDULERS = ("scheduler", "scheduler-2")
WORKERS = ("worker-a", "worker-b")
WORKER_THREADS = 8
MISFIRE_GRACE = 1.0
BACKLOG = 100
CLAIM_BATCH = 500  # the scheduler's batch size (scheduler/dispatcher.py)
LIMIT = 3
BATCH = 1000
# started_at is written in milliseconds, by another process's clock on this host.
CLOCK_SLACK = 0.002


@pytest.fixture(scope="module")
def queue_stack(
    database_url: str, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = {
        "CHRONOS_QUEUES": ",".join(QUEUES),
        "CHRONOS_QUEUE_BACKLOG": str(BACKLOG),
        "CHRONOS_MISFIRE_GRACE_SECONDS": str(MISFIRE_GRACE),
        "CHRONOS_WORKER_PROCESSES": "1",
        "CHRONOS_WORKER_THREADS": str(WORKER_THREADS),
    }
    log_dir = tmp_path_factory.mktemp("chronos-queues-logs")
    with own_stack(stack_env, database_url, "queues", log_dir, env) as stack:
        # The stack's own worker consumes "default" only: two that consume every queue
        # take its place, and a second scheduler joins the first.
        stack.stop_process("worker")
        stack.spawn(SCHEDULERS[1], "scheduler")
        for name in WORKERS:
            stack.start_worker(name, QUEUES, wait=False)
        for name in (*SCHEDULERS, *WORKERS):
            process = stack.processes[name]
            needle = "scheduler started" if name in SCHEDULERS else "ready for action"
            wait_for(
                lambda process=process, needle=needle: (
                    stack.check_alive() or needle in process.log_path.read_text(errors="replace")
                ),
                60,
                interval=0.1,
                message=f"{name} to log {needle!r}",
            )
        for queue in QUEUES:
            stack.wait_consuming(queue)
        yield stack


@pytest.fixture(scope="module")
def engine(queue_stack: Stack) -> Iterator[Engine]:
    engine = make_engine(
        queue_stack.env["CHRONOS_DATABASE_URL"], pool_size=2, application_name="chronos-e2e-queues"
    )
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def admin(queue_stack: Stack) -> Client:
    return Client(queue_stack.url, queue_stack.admin_token())


@pytest.fixture
def user(queue_stack: Stack) -> Iterator[Client]:
    queue_stack.check_alive()
    client = fresh_user(queue_stack)
    yield client
    client.cancel_submitted()


def fresh_user(stack: Stack) -> Client:
    client = Client(stack.url).as_new_user()
    client.timeout = 60
    return client


def queue_view(client: Client, name: str) -> dict[str, Any]:
    """``GET /queues/{name}``: a user's counts are of their own runs, an admin's of all."""
    view: dict[str, Any] = client.expect("GET", f"/queues/{name}", 200)
    return view


def submit_batch(client: Client, specs: list[dict[str, Any]]) -> list[str]:
    """``POST /jobs/batch``, 1,000 at a time. These jobs are not cancelled one by one
    after the test: they all finish, and the stack's database goes with it."""
    ids: list[str] = []
    for start in range(0, len(specs), BATCH):
        body = client.expect("POST", "/jobs/batch", 201, {"jobs": specs[start : start + BATCH]})
        ids.extend(job["id"] for job in body["items"])
    return ids


def jobs_of(client: Client, queue: str) -> list[dict[str, Any]]:
    """Every job of the caller in ``queue``, through ``GET /jobs`` page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        path = f"/jobs?queue={queue}&limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = client.expect("GET", path, 200)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def drained(client: Client, queue: str) -> bool | Unmet:
    view = queue_view(client, queue)
    live = {key: view[key] for key in ("pending_due", "queued", "running")}
    return not any(live.values()) or Unmet(live)


CLOCK_OFFSET = re.compile(r"this host's clock is ([+-]\d+\.\d+)s off PostgreSQL's")


def worker_clock_offsets(stack: Stack) -> dict[str, float]:
    """Each worker process's clock error, by the pid that its runs record.

    A process writes ``started_at`` and ``finished_at`` by its own reading of
    PostgreSQL's clock (shared/clock.py), which it logs once as its offset from the
    host's. On this machine the host's clock is PostgreSQL's, so the offset is the
    reading's error (a worker's is about -0.2 s: its first reading includes opening a
    connection). Adding it puts both workers' times on one clock, until the process
    reads PostgreSQL's clock again, 60 s after the first reading: the concurrency test
    comes first, well within that; the fairness test's bound has room for the rest."""
    offsets: dict[str, float] = {}
    for name in WORKERS:
        process = stack.processes[name]
        found = CLOCK_OFFSET.findall(process.log_path.read_text(errors="replace"))
        assert len(found) == 1, f"{name} logged its clock's offset {len(found)} times: {found}"
        leader = process.popen.pid
        children = Path(f"/proc/{leader}/task/{leader}/children").read_text().split()
        for pid in children:
            offsets[pid] = float(found[0])
    return offsets


def started_on_one_clock(run: Run, offsets: dict[str, float]) -> float:
    """The run's ``started_at`` on this host's clock (see :func:`worker_clock_offsets`)."""
    started_at = parse_time(run["started_at"])
    assert started_at is not None, run
    return started_at + offsets[run["worker"].rsplit(":", 1)[1]]


def deepest_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant; one that ends when another starts does
    not overlap it."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    depth = deepest = 0
    for _, step in events:
        depth += step
        deepest = max(deepest, depth)
    return deepest


# 1. Pause and resume --------------------------------------------------------------------


def test_paused_queue_holds_due_runs_and_resume_follows_misfire_policy(
    queue_stack: Stack, admin: Client, user: Client
) -> None:
    sleeper = user.submit(type="sleep", queue="held", payload={"seconds": 2.5})
    [sleeper_run] = wait_runs(
        user,
        sleeper["id"],
        lambda runs: [run["state"] for run in runs] == ["running"],
        15,
        "the sleep to start",
    )
    paused = admin.expect("POST", "/queues/held/pause", 200)
    assert paused["paused"] is True
    try:
        held = _hold(queue_stack, admin, user, sleeper, sleeper_run)
    finally:
        resuming = time.time()
        resumed = admin.expect("POST", "/queues/held/resume", 200)
    assert resumed["paused"] is False
    _released(user, held, resuming)


@dataclass
class Held:
    one_offs: list[str]
    skip: str
    run_once: str
    run_all: str
    first_due: float


def _hold(
    stack: Stack, admin: Client, user: Client, sleeper: dict[str, Any], sleeper_run: Run
) -> Held:
    """While ``held`` is paused: each due run submitted adds one to ``pending_due`` and
    none starts, while the run that had started before the pause finishes."""
    one_offs = []
    for count in range(1, 4):
        one_offs.append(user.submit(type="noop", queue="held")["id"])
        due_now(user, count)
    # Recurring jobs due now, every second: each has one pending run, its first
    # occurrence, which the pause makes late.
    now_text = rfc3339(time.time())
    first_due = parse_time(now_text)
    assert first_due is not None
    schedule = {"run_at": now_text, "interval_seconds": 1}

    def recurring(policy: str, max_runs: int, **extra: Any) -> str:
        body = {"type": "noop", "queue": "held", "misfire_policy": policy, **extra}
        job_id: str = user.submit(**body, schedule={**schedule, "max_runs": max_runs})["id"]
        return job_id

    held = Held(
        one_offs=one_offs,
        # overlap allow: on a slow machine an occurrence may fall due while the one
        # before is still queued, and forbid would add a skipped run this test is not about.
        skip=recurring("skip", 2, overlap_policy="allow"),
        run_once=recurring("run_once", 2, overlap_policy="allow"),
        # Every missed occurrence runs, one after another: they overlap on purpose.
        run_all=recurring("run_all", 4, overlap_policy="allow"),
        first_due=first_due,
    )
    due_now(user, 6)
    everyone = queue_view(admin, "held")
    assert everyone["paused"] is True
    assert everyone["oldest_due_at"] is not None

    def nothing_new_started() -> dict[str, Any]:
        stack.check_alive()
        view = queue_view(user, "held")
        assert view["queued"] == 0, f"a run of the paused queue was dispatched: {view}"
        assert view["running"] <= 1, f"a run of the paused queue started: {view}"
        assert view["pending_due"] == 6, f"the paused queue's due runs changed: {view}"
        return view

    # The run that started before the pause goes on to the end.
    def sleeper_done() -> bool:
        nothing_new_started()
        return user.job(sleeper["id"])["status"] == "succeeded"

    wait_for(sleeper_done, 15, interval=0.05, message="the running sleep to finish")
    [finished] = user.runs(sleeper["id"])
    assert finished["id"] == sleeper_run["id"]
    assert finished["state"] == "succeeded"
    # Well past the poll interval and every scheduler's pass, and long enough that the
    # run_all job has missed four occurrences.
    hold_for(nothing_new_started, 1.5, interval=0.05, message="the pause")
    wait_for(
        lambda: nothing_new_started() and time.time() > first_due + 3.5,
        10,
        interval=0.05,
        message="four occurrences of the recurring jobs to be missed",
    )
    for job_id in [*one_offs, held.skip, held.run_once, held.run_all]:
        runs = user.runs(job_id)
        assert [run["state"] for run in runs] == ["pending"], runs
        assert runs[0]["queued_at"] is None
    return held


def due_now(user: Client, count: int) -> None:
    """``held`` has ``count`` runs of the user's due. A run submitted for now can be
    counted as still to come for a moment: each API process carries its own reading of
    PostgreSQL's clock (shared/clock.py), and they differ by a fraction of a second."""

    def counted() -> bool | Unmet:
        view = queue_view(user, "held")
        got = {key: view[key] for key in ("pending_due", "pending_future", "queued", "running")}
        assert got["pending_due"] + got["pending_future"] == count, got
        return got["pending_due"] == count or Unmet(got)

    wait_for(counted, 2, interval=0.02, message=f"{count} runs due in the paused queue")


def _released(user: Client, held: Held, resuming: float) -> None:
    """After the resume (asked for at ``resuming``): every held run is dispatched, and
    the recurring jobs' missed occurrences go as their misfire policies say."""
    for job_id in held.one_offs:
        wait_status(user, job_id, "succeeded", 15)
    for job_id in (held.skip, held.run_once, held.run_all):
        wait_status(user, job_id, "succeeded", 20)
    runs = {job_id: user.runs(job_id) for job_id in [*held.one_offs, held.skip, held.run_once]}
    every = user.runs(held.run_all)
    for run in [run for job_runs in runs.values() for run in job_runs] + every:
        started_at = parse_time(run["started_at"])
        assert started_at is None or started_at >= resuming - CLOCK_SLACK, (
            f"a run started during the pause: {run}"
        )

    # skip: the missed first occurrence is recorded as skipped; the schedule goes on
    # from the resume, so the occurrences it runs are due after it.
    skipped, *ran = runs[held.skip]
    assert skipped["state"] == "skipped", runs[held.skip]
    assert "misfire_policy skip" in skipped["result"]["skipped"]
    assert [run["state"] for run in ran] == ["succeeded", "succeeded"], ran
    assert all(due(run) > resuming for run in ran), f"a missed occurrence ran: {ran}"

    # run_once: the first occurrence runs, standing for all that were missed; the next
    # one is the first after the resume.
    first, second = runs[held.run_once]
    assert (first["state"], second["state"]) == ("succeeded", "succeeded")
    assert due(first) == held.first_due
    assert due(second) > resuming, f"a missed occurrence ran: {second}"

    # run_all: every missed occurrence runs, one after another.
    assert [run["state"] for run in every] == ["succeeded"] * 4, every
    assert [due(run) for run in every] == [held.first_due + step for step in range(4)]
    assert due(every[-1]) < resuming
    print(f"pause: resumed {resuming - held.first_due:.1f}s after the recurring jobs fell due")


def due(run: Run) -> float:
    scheduled_for = parse_time(run["scheduled_for"])
    assert scheduled_for is not None, run
    return scheduled_for


# 2. A concurrency limit across two schedulers and two workers ----------------------------


class RunningSampler(threading.Thread):
    """Counts the queue's running (and queued + running) runs in a loop, from the
    database: how many run at one instant is what HTTP cannot show at this rate."""

    def __init__(self, engine: Engine, queue: str) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.queue = queue
        self.stopping = threading.Event()
        self.samples = 0
        self.max_running = 0
        self.max_queued = 0
        self.max_busy = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        query = text(
            "SELECT count(*) FILTER (WHERE state = 'running') AS running, count(*) AS busy "
            "FROM runs WHERE queue = :queue AND state IN ('queued', 'running')"
        )
        try:
            with self.engine.connect() as conn:
                while not self.stopping.is_set():
                    row = conn.execute(query, {"queue": self.queue}).one()
                    conn.rollback()
                    self.samples += 1
                    self.max_running = max(self.max_running, int(row.running))
                    self.max_queued = max(self.max_queued, int(row.busy) - int(row.running))
                    self.max_busy = max(self.max_busy, int(row.busy))
                    self.stopping.wait(0.005)
        except BaseException as error:  # reported by the test, not lost in a thread
            self.error = error

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        if self.error is not None:
            raise AssertionError(f"the sampler failed: {self.error!r}")


def test_concurrency_limit_is_never_exceeded_and_is_reached(
    queue_stack: Stack, admin: Client, user: Client, engine: Engine
) -> None:
    limited = admin.expect("PATCH", "/queues/capped", 200, {"concurrency": LIMIT})
    assert limited["concurrency"] == LIMIT
    count, seconds = 60, 0.2
    sampler = RunningSampler(engine, "capped")
    sampler.start()
    try:
        began = time.monotonic()
        specs = [{"type": "sleep", "queue": "capped", "payload": {"seconds": seconds}}] * count
        job_ids = submit_batch(user, specs)
        # The same limit as the admin sees it, while the runs go through.
        seen_busy = 0

        def done() -> bool | Unmet:
            nonlocal seen_busy
            queue_stack.check_alive()
            view = queue_view(admin, "capped")
            seen_busy = max(seen_busy, view["queued"] + view["running"])
            return drained(admin, "capped")

        wait_for(done, 60, interval=0.05, message="the capped queue to drain")
        took = time.monotonic() - began
    finally:
        sampler.stop()
        admin.expect("PATCH", "/queues/capped", 200, {"concurrency": None})

    runs = [run for job_id in job_ids for run in user.runs(job_id)]
    assert [run["state"] for run in runs] == ["succeeded"] * count
    offsets = worker_clock_offsets(queue_stack)
    recorded = [times(run) for run in runs]
    shifts = [offsets[run["worker"].rsplit(":", 1)[1]] for run in runs]
    intervals = [
        (start + shift, end + shift) for (start, end), shift in zip(recorded, shifts, strict=True)
    ]
    deepest = deepest_overlap(intervals)
    busy_time = sum(end - start for start, end in intervals)
    span = max(end for _, end in intervals) - min(start for start, _ in intervals)
    workers = {run["worker"] for run in runs}
    report = assert_invariants(engine, job_ids)
    print(
        f"concurrency {LIMIT}: {count} runs of {seconds}s in {took:.1f}s; {sampler.samples} "
        f"samples, max running {sampler.max_running}, max queued+running {sampler.max_busy} "
        f"(HTTP: {seen_busy}); deepest overlap of [started_at, finished_at] {deepest} "
        f"({deepest_overlap(recorded)} before the clock offsets {sorted(set(shifts))}); "
        f"slots used {busy_time / (span * LIMIT):.0%} of the span; workers {sorted(workers)}; "
        f"{report.summary()}"
    )
    assert sampler.max_busy <= LIMIT, f"{sampler.max_busy} runs queued or running at once"
    assert seen_busy <= LIMIT
    assert deepest <= LIMIT, f"{deepest} runs overlapped in time"
    # Reached, not over-conservative.
    assert sampler.max_running == LIMIT
    assert deepest == LIMIT
    assert len(workers) == len(WORKERS), f"the runs did not spread over the workers: {workers}"
    assert (report.lost, report.duplicates, report.stuck) == (0, 0, 0)
    assert report.succeeded == count == report.runs


# 3. Turns by owner ----------------------------------------------------------------------


def test_another_owners_run_starts_within_one_batch_of_a_flood(
    queue_stack: Stack, admin: Client, user: Client, engine: Engine
) -> None:
    flood = 5000
    # The flood is submitted into a paused queue and released at once, so that it is
    # whole when it comes due however slowly this machine inserts it (the dispatch would
    # otherwise keep pace with the inserts).
    admin.expect("POST", "/queues/shared/pause", 200)
    try:
        submitting = time.monotonic()
        flood_ids = submit_batch(user, [{"type": "noop", "queue": "shared"}] * flood)
        print(f"fairness: {flood} runs submitted in {time.monotonic() - submitting:.1f}s")
    finally:
        admin.expect("POST", "/queues/shared/resume", 200)

    def dispatching() -> dict[str, Any] | Unmet:
        queue_stack.check_alive()
        view = queue_view(user, "shared")
        return view if view["queued"] + view["running"] > 0 else Unmet(view)

    sampler = RunningSampler(engine, "shared")
    sampler.start()
    try:
        wait_for(dispatching, 20, interval=0.02, message="the flood to be dispatched")
        # What the flood still has due, just before the other owner's run falls due: a FIFO
        # claim would dispatch all of it first.
        ahead = queue_view(user, "shared")["pending_due"]
        other = fresh_user(queue_stack)
        # By this host's clock, which is PostgreSQL's: the run falls due after this.
        single_due = time.time()
        single = other.submit(type="noop", queue="shared")
        bound = CLAIM_BATCH + BACKLOG
        assert ahead > 2 * bound, f"only {ahead} runs of the flood were due: not a test of turns"

        done = wait_status(other, single["id"], "succeeded", 60)
        single_run = done["last_run"]
        wait_for(lambda: drained(user, "shared"), 90, interval=0.2, message="the flood to drain")
        drained_at = time.time()
    finally:
        sampler.stop()

    jobs = jobs_of(user, "shared")
    assert len(jobs) == flood
    assert all(job["status"] == "succeeded" for job in jobs)
    offsets = worker_clock_offsets(queue_stack)
    single_started = started_on_one_clock(single_run, offsets)
    starts = [started_on_one_clock(job["last_run"], offsets) for job in jobs]
    before = sum(1 for start in starts if single_due < start < single_started)
    after = sum(1 for start in starts if start > single_started)
    first = min(starts)
    report = assert_invariants(engine, [*flood_ids, single["id"]])
    print(
        f"fairness: {ahead} of the flood due when the other owner's run fell due; "
        f"{before} started between its due time and its start "
        f"({single_started - single_due:.2f}s), {after} after it; the flood ran in "
        f"{drained_at - first:.1f}s; at most {sampler.max_queued} queued at once "
        f"(CHRONOS_QUEUE_BACKLOG {BACKLOG}, {len(SCHEDULERS)} schedulers); {report.summary()}"
    )
    assert sampler.max_queued <= BACKLOG, "the backlog bound holds across both schedulers"
    assert after > 0, "the other owner's run waited for the whole flood"
    assert before <= bound, f"{before} runs of the flood started first (bound {bound})"
    assert (report.lost, report.duplicates, report.stuck) == (0, 0, 0)
    assert report.succeeded == flood + 1 == report.runs
