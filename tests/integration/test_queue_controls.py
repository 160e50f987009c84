"""The claim against the real PostgreSQL and RabbitMQ: paused queues, concurrency limits,
the dispatch backlog bound, and turns by owner.

Each test has its own queue and a FixedClock pinned in the past (``dispatch_helpers``),
so it sees only its own runs.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from scheduler.wakeup import libpq_url
from shared import lifecycle
from shared.repository import claim as claim_repo
from shared.repository import queues as queue_repo
from shared.repository.runs import NOTIFY_CHANNEL
from shared.settings import Settings
from shared.validation import parse_submit
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import World, every, open_world


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


def flood(world: World, owner: uuid.UUID, count: int, **fields: Any) -> list[uuid.UUID]:
    """``count`` one-off noop jobs of ``owner``, due now, in one transaction."""
    body = {"type": "noop", "queue": world.queue, **fields}
    specs = [
        parse_submit(body, world.now, is_admin=True, shell_enabled=False, queues=(world.queue,))
        for _ in range(count)
    ]
    with world.engine.begin() as conn:
        views = lifecycle.submit_batch(conn, specs, owner_id=owner, now=world.now)
    return [view.job["id"] for view in views]


def set_queue(world: World, **changes: Any) -> None:
    with world.engine.begin() as conn:
        queue_repo.update_queue(conn, world.queue, world.now, **changes)


def count_state(world: World, state: str) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.scalar(
                text("SELECT count(*) FROM runs WHERE queue = :q AND state = :s"),
                {"q": world.queue, "s": state},
            )
        )


def queued_runs(world: World) -> list[dict[str, Any]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM runs WHERE queue = :q AND state = 'queued' ORDER BY queued_at"),
            {"q": world.queue},
        ).mappings()
        return [dict(row) for row in rows]


def owners_of(world: World, run_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, owner_id FROM runs WHERE id = ANY(:ids)"), {"ids": run_ids}
        ).all()
    owner = {row.id: row.owner_id for row in rows}
    return [owner[run_id] for run_id in run_ids]


@pytest.fixture
def second_owner(make_user: Callable[..., Account], engine: Engine) -> Iterator[uuid.UUID]:
    account = make_user()
    owner = uuid.UUID(account.id)
    yield owner
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM jobs WHERE owner_id = :o"), {"o": owner})


# Pause and resume


def test_a_paused_queue_keeps_its_due_runs_pending_until_resumed(world: World) -> None:
    job = world.submit()
    set_queue(world, paused=True)
    dispatcher = world.dispatcher()

    assert dispatcher.run_once().claimed == 0
    assert [run["state"] for run in world.runs(job)] == ["pending"]
    assert world.message_count() == 0

    set_queue(world, paused=False)
    assert dispatcher.run_once().published == 1
    assert [run["state"] for run in world.runs(job)] == ["queued"]


def test_resume_follows_each_jobs_misfire_policy(world: World) -> None:
    skip = world.submit(schedule=every(60), misfire_policy="skip")
    once = world.submit(schedule=every(60), misfire_policy="run_once")
    set_queue(world, paused=True)
    world.clock.advance(600)  # ten minutes paused: far past the 60 s grace
    set_queue(world, paused=False)

    world.dispatcher().run_once()

    assert [run["state"] for run in world.runs(skip)][:1] == ["skipped"]
    assert [run["state"] for run in world.runs(once)][:1] == ["queued"]
    # Both go on from now, not from where the pause began.
    for job in (skip, once):
        assert world.runs(job)[-1]["scheduled_for"] > world.now


def test_runs_already_queued_are_not_recalled_by_a_pause(world: World) -> None:
    job = world.submit()
    world.dispatcher().run_once()
    set_queue(world, paused=True)
    assert world.only_run(job, "queued")["published_at"] is not None


# Concurrency limits


def test_a_limited_queue_gets_no_more_than_its_slots_and_more_as_runs_finish(
    world: World,
) -> None:
    flood(world, world.owner_id, 10)
    set_queue(world, concurrency=3, set_concurrency=True)
    dispatcher = world.dispatcher()

    assert dispatcher.run_once().claimed == 3
    assert dispatcher.run_once().claimed == 0, "queued runs count against the limit"
    assert dispatcher.plan.full
    assert not dispatcher.plan.backlogged, "a finished run's NOTIFY brings room back"
    queued = [row["id"] for row in queued_runs(world)]
    world.start_run(queued[0])
    assert dispatcher.run_once().claimed == 0, "running ones too"
    world.finish_run(queued[0])
    assert dispatcher.run_once().claimed == 1
    assert count_state(world, "queued") + count_state(world, "running") == 3

    set_queue(world, concurrency=None, set_concurrency=True)
    assert dispatcher.run_once().claimed == 6


def test_two_schedulers_cannot_both_take_a_queues_last_slot(world: World) -> None:
    flood(world, world.owner_id, 5)
    set_queue(world, concurrency=1, set_concurrency=True)
    first, second = world.dispatcher(), world.dispatcher()
    with world.engine.begin() as conn:
        # Another scheduler's claim holds the queue: this one leaves the queue alone.
        assert world.queue in claim_repo.hold_queues(conn, bounded=False)
        assert second.run_once().claimed == 0
    assert first.run_once().claimed == 1
    assert second.run_once().claimed == 0
    assert count_state(world, "queued") == 1


def test_the_backlog_bound_keeps_runs_pending_until_workers_start_some(world: World) -> None:
    flood(world, world.owner_id, 30)
    dispatcher = world.dispatcher(settings=dataclasses.replace(world.settings, queue_backlog=10))

    assert dispatcher.run_once().claimed == 10
    assert dispatcher.run_once().claimed == 0
    assert dispatcher.plan.full
    assert dispatcher.plan.backlogged, "room comes back as workers start runs: poll soon"
    for run_id in [row["id"] for row in queued_runs(world)][:4]:
        world.start_run(run_id)
    assert dispatcher.run_once().claimed == 0, "refilled only once half has drained"
    for run_id in [row["id"] for row in queued_runs(world)][:2]:
        world.start_run(run_id)
    assert dispatcher.run_once().claimed == 6, "started runs leave the backlog"


def test_two_schedulers_cannot_both_fill_a_queues_backlog(world: World) -> None:
    flood(world, world.owner_id, 30)
    set_queue(world, paused=False)  # the queue's row, as the scheduler's start writes it
    bounded = dataclasses.replace(world.settings, queue_backlog=10)
    first, second = world.dispatcher(settings=bounded), world.dispatcher(settings=bounded)
    with world.engine.begin() as conn:
        assert world.queue in claim_repo.hold_queues(conn, bounded=True)
        assert second.run_once().claimed == 0, "the other scheduler is filling it"
    assert first.run_once().claimed == 10
    assert second.run_once().claimed == 0
    assert count_state(world, "queued") == 10


# Turns by owner


def test_a_flooding_owner_does_not_delay_another_owners_run_beyond_one_batch(
    world: World, second_owner: uuid.UUID
) -> None:
    flood(world, world.owner_id, 2000, priority=9)
    world.clock.advance(1)
    theirs = flood(world, second_owner, 3, priority=0)  # due later, and at a lower priority
    dispatcher = world.dispatcher(batch_size=100)

    queued, _ = dispatcher.claim()

    order = owners_of(world, [run_id for item in queued for run_id in item.run_ids])
    assert len(order) == 100
    # Turns decide who makes the batch: the second owner's 3 runs, due later and at a
    # lower priority, are in it. The owner with the fewest runs in it goes out first.
    assert order[:3] == [second_owner] * 3
    assert second_owner not in order[3:]
    with world.engine.connect() as conn:
        states = conn.scalars(
            text("SELECT state FROM runs WHERE job_id = ANY(:j)"), {"j": theirs}
        ).all()
    assert states == ["queued"] * 3


def test_a_limited_queues_freed_slot_goes_to_the_owner_with_fewest_runs_in_it(
    world: World, second_owner: uuid.UUID
) -> None:
    """Slot by slot, turns restart at every claim: counted alone they would hand each
    freed slot to the oldest due run, so a flood due first would hold every slot until
    it drained. The owners' queued and running runs count as turns already taken."""
    mine = flood(world, world.owner_id, 10)
    set_queue(world, concurrency=3, set_concurrency=True)
    dispatcher = world.dispatcher()
    assert dispatcher.run_once().claimed == 3
    world.clock.advance(1)
    theirs = flood(world, second_owner, 2)  # due after all of the flood
    first = queued_runs(world)[0]["id"]
    world.start_run(first)
    world.finish_run(first)

    queued, _ = dispatcher.claim()

    claimed = [run_id for item in queued for run_id in item.run_ids]
    assert owners_of(world, claimed) == [second_owner]
    assert len(mine) == 10
    assert len(theirs) == 2


def test_within_one_owner_priority_then_due_time_decide(world: World) -> None:
    low = flood(world, world.owner_id, 3, priority=1)
    world.clock.advance(1)
    high = flood(world, world.owner_id, 2, priority=8)
    queued, _ = world.dispatcher(batch_size=3).claim()
    with world.engine.connect() as conn:
        jobs = conn.execute(
            text("SELECT job_id FROM runs WHERE id = ANY(:ids)"),
            {"ids": [run_id for item in queued for run_id in item.run_ids]},
        ).scalars()
        claimed = set(jobs)
    assert claimed == {*high, low[0]}


@pytest.mark.parametrize("concurrency", [None, 5000], ids=["unlimited", "limited"])
def test_the_claim_reads_only_its_batch_not_the_whole_due_set(
    world: World, second_owner: uuid.UUID, concurrency: int | None
) -> None:
    flood(world, world.owner_id, 20_000)
    flood(world, second_owner, 20)
    set_queue(world, concurrency=concurrency, set_concurrency=True)
    world.dispatcher(batch_size=100).run_once()  # some queued, for the owners' counts
    batch = 500
    with world.engine.connect() as conn:
        conn.execute(text("ANALYZE runs"))
        held = list(claim_repo.hold_queues(conn, bounded=False))
        plan = claim_repo.due_groups(conn, world.now, held=held, limit=batch, backlog=0)
        chosen = plan.claimable
        params = {
            "queues": [group.queue for group, _ in chosen],
            "owners": [group.owner_id for group, _ in chosen],
            "priorities": [group.priority for group, _ in chosen],
            "quotas": [quota for _, quota in chosen],
            "skips": [0 for _ in chosen],
            "busy": [group.busy for group, _ in chosen],
            "budget_queues": list(plan.slots),
            "budgets": list(plan.slots.values()),
            "now": world.now,
            "limit": batch,
        }
        for statement, values in (
            (claim_repo.DUE_GROUPS, {"now": world.now, "held": held, "limit": batch, "backlog": 0}),
            (claim_repo.CLAIM_GROUPS, params),
        ):
            explained = conn.execute(
                text(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.text}"), values
            ).scalar_one()
            nodes = list(walk(explained[0]["Plan"]))
            scans = [n for n in nodes if n["Node Type"] == "Seq Scan"]
            # The queues table is a handful of rows: a sequential scan is its best plan.
            assert {n["Relation Name"] for n in scans} <= {"queues"}, "no sequential scan of runs"
            for node in nodes:
                if node["Node Type"] in {"Sort", "Incremental Sort", "WindowAgg"}:
                    rows = node["Actual Rows"] * node["Actual Loops"]
                    assert rows <= 2 * batch, f"{node['Node Type']} of {rows} rows"
                if node.get("Relation Name") == "runs":
                    rows = node["Actual Rows"] * node["Actual Loops"]
                    assert rows <= 2 * batch + 10, json.dumps(node)[:400]
        conn.rollback()


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


def test_a_finished_run_of_a_limited_queue_wakes_the_schedulers(world: World) -> None:
    flood(world, world.owner_id, 2)
    world.dispatcher().run_once()
    first, second = [row["id"] for row in queued_runs(world)]
    for run_id in (first, second):
        world.start_run(run_id)
    listener = psycopg.connect(libpq_url(world.settings.database_url), autocommit=True)
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        world.finish_run(first)  # no limit: nobody is waiting for the slot
        assert [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)] == []
        set_queue(world, concurrency=2, set_concurrency=True)
        assert [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)] == []
        world.finish_run(second)
        woken = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        assert woken == [world.queue]
    finally:
        listener.close()


def test_resuming_a_run_all_job_replays_at_most_max_catchup_occurrences(world: World) -> None:
    job = world.submit(schedule=every(60), misfire_policy="run_all", overlap_policy="allow")
    set_queue(world, paused=True)
    world.clock.advance(3 * 3600)  # 180 occurrences missed
    set_queue(world, paused=False)
    dispatcher = world.dispatcher(settings=dataclasses.replace(world.settings, max_catchup=5))

    for _ in range(10):
        dispatcher.run_once()
    states = [run["state"] for run in world.runs(job)]
    assert states[0] == "skipped"
    assert states[1:6] == ["queued"] * 5, "the 5 most recent missed occurrences run"
    assert states[6:] == ["pending"], "then the schedule goes on from now"
    assert world.runs(job)[-1]["scheduled_for"] > world.now
