"""The fair claim: due runs, queue by queue and in turns by owner, within each queue's
budget. Three statements in the claim's transaction:

1. :func:`hold_queues` locks the rows of the queues with a concurrency limit, and of
   every queue while the dispatch backlog is bounded (SKIP LOCKED). A queue whose row
   another scheduler holds gets no runs from this claim, so two schedulers can never both
   take a queue's last slot, nor both fill its backlog. (A queue with no row, one added to
   CHRONOS_QUEUES since the schedulers started, is unlimited and not locked.)
2. :func:`due_groups`, after that lock and so in a snapshot that sees what the other
   scheduler committed, skips through ``ix_runs_fair_due`` from one (queue, owner,
   priority) group of pending runs to the next, reading each group's earliest due time,
   and tells each queue's budget: nothing for a paused queue, and never more than its
   concurrency limit minus its queued and running runs, or the dispatch backlog minus
   its queued runs (and nothing until half the backlog has been started).
3. :func:`claim_groups` takes up to a quota of due runs from each due group (one short
   range scan each, FOR UPDATE SKIP LOCKED), orders them by turn (an owner's first run,
   then everyone's second, ...; in a limited queue, an owner's runs already queued or
   running there count as turns taken), then priority and due time, keeps each queue
   within its budget and the batch within its size, and locks their jobs. The batch is
   returned (and published) owner by owner, the owners with the fewest runs in it
   first.

The cost is one index probe per group with pending runs and one short scan per due
group: it grows with the number of owners, never with the number of due runs.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

from shared.repository import Row
from shared.repository.runs import NOTIFY_CHANNEL

HOLD_QUEUES = text(
    "SELECT name, concurrency IS NOT NULL AS limited FROM queues "
    "WHERE NOT paused AND (concurrency IS NOT NULL OR :bounded) "
    "ORDER BY name FOR UPDATE SKIP LOCKED"
)


def hold_queues(conn: Connection, *, bounded: bool) -> dict[str, bool]:
    """Lock, until commit, the rows of the queues whose room this claim must count alone:
    those with a concurrency limit, and every queue while the backlog is ``bounded``.
    A queue whose row another scheduler holds gets nothing from this claim. Returns
    each held queue's name, and whether it has a concurrency limit."""
    return {row.name: row.limited for row in conn.execute(HOLD_QUEUES, {"bounded": bounded})}


HOLD_QUEUE = text(
    "SELECT name FROM queues WHERE name = :name AND NOT paused AND concurrency IS NOT NULL "
    "FOR UPDATE"
)


def hold_queue(conn: Connection, name: str) -> bool:
    """Lock one limited queue's row, as :func:`hold_queues` does, but waiting for it:
    its holders are claims, which wait for no lock while they hold it, so this cannot
    deadlock; and two threads freeing slots of one queue at once both get to fill
    theirs. False when the queue is paused or unlimited."""
    return conn.scalar(HOLD_QUEUE, {"name": name}) is not None


DUE_GROUPS = text(
    """
    WITH RECURSIVE paused AS (
        SELECT coalesce(array_agg(name), '{}') AS names FROM queues WHERE paused
    ),
    groups AS (
        (SELECT queue, owner_id, priority, due_at FROM runs
         WHERE state = 'pending' AND due_at IS NOT NULL
         ORDER BY queue, owner_id, priority, due_at LIMIT 1)
        UNION ALL
        SELECT step.queue, step.owner_id, step.priority, step.due_at
        FROM groups AS g, paused AS p
        CROSS JOIN LATERAL (
            (SELECT queue, owner_id, priority, due_at FROM runs
             WHERE state = 'pending' AND due_at IS NOT NULL AND NOT g.queue = ANY(p.names)
                AND (queue, owner_id, priority) > (g.queue, g.owner_id, g.priority)
             ORDER BY queue, owner_id, priority, due_at LIMIT 1)
            UNION ALL
            -- A paused queue is skipped whole: its owners cost nothing.
            (SELECT queue, owner_id, priority, due_at FROM runs
             WHERE state = 'pending' AND due_at IS NOT NULL AND g.queue = ANY(p.names)
                AND queue > g.queue
             ORDER BY queue, owner_id, priority, due_at LIMIT 1)
        ) AS step
    ),
    live AS (
        SELECT g.queue, g.owner_id, g.priority, g.due_at FROM groups AS g, paused AS p
        WHERE NOT g.queue = ANY(p.names)
    ),
    counted AS (
        -- One short scan of a partial index each (ix_runs_queued, ix_runs_running).
        SELECT d.queue,
            (SELECT count(*) FROM runs WHERE state = 'queued' AND queue = d.queue) AS waiting,
            (SELECT count(*) FROM runs WHERE state = 'running' AND queue = d.queue) AS running
        FROM (SELECT DISTINCT queue FROM live WHERE due_at <= :now) AS d
    ),
    busy AS (SELECT queue, waiting, waiting + running AS busy FROM counted),
    limited AS (
        SELECT c.queue FROM counted AS c JOIN queues AS q ON q.name = c.queue
        WHERE q.concurrency IS NOT NULL
    ),
    owner_busy AS (
        -- Each owner's runs already queued or running in a limited queue: a slot there
        -- goes to the owner with the fewest, not to whoever's run is oldest. At most the
        -- queue's limit of rows to read.
        SELECT queue, owner_id, count(*) AS busy FROM (
            SELECT queue, owner_id FROM runs
            WHERE state = 'queued' AND queue IN (SELECT queue FROM limited)
            UNION ALL
            SELECT queue, owner_id FROM runs
            WHERE state = 'running' AND queue IN (SELECT queue FROM limited)
        ) AS active GROUP BY queue, owner_id
    ),
    budget AS (
        SELECT d.queue, greatest(0, least(
            :limit,
            CASE WHEN q.name IS NOT NULL AND NOT q.name = ANY(CAST(:held AS text[]))
                      AND (q.concurrency IS NOT NULL OR :backlog > 0) THEN 0
                 WHEN q.concurrency IS NULL THEN :limit
                 ELSE q.concurrency - coalesce(b.busy, 0) END,
            CASE WHEN :backlog = 0 THEN :limit
                 -- Refilled once half has drained: a few claims of hundreds of runs, not
                 -- one claim every poll of the few the workers started meanwhile.
                 WHEN coalesce(b.waiting, 0) > :backlog / 2 THEN 0
                 ELSE :backlog - coalesce(b.waiting, 0) END
        )) AS slots,
        CASE WHEN :backlog = 0 THEN :limit
             WHEN coalesce(b.waiting, 0) > :backlog / 2 THEN 0
             ELSE :backlog - coalesce(b.waiting, 0) END AS backlog_room
        FROM (SELECT DISTINCT queue FROM live) AS d
        LEFT JOIN queues AS q ON q.name = d.queue
        LEFT JOIN busy AS b ON b.queue = d.queue
    )
    SELECT live.queue, live.owner_id, live.priority, live.due_at AS first_due, budget.slots,
        budget.backlog_room, coalesce(ob.busy, 0) AS busy
    FROM live JOIN budget ON budget.queue = live.queue
    LEFT JOIN owner_busy AS ob ON ob.queue = live.queue AND ob.owner_id = live.owner_id
    WHERE live.due_at <= :now
    UNION ALL
    -- Not due yet: only the earliest of each queue, for the scheduler's sleep.
    SELECT live.queue, NULL, NULL, min(live.due_at), min(budget.slots), NULL, NULL
    FROM live JOIN budget ON budget.queue = live.queue
    WHERE live.due_at > :now GROUP BY live.queue
    """
)


@dataclass(frozen=True)
class Group:
    """One owner's pending runs of one priority in one queue, due since ``first_due``."""

    queue: str
    owner_id: uuid.UUID
    priority: int
    first_due: datetime
    # The owner's runs queued or running in the queue, counted for limited queues only:
    # its turns start after them.
    busy: int = 0


@dataclass
class DuePlan:
    """What :func:`due_groups` found: the due groups, each queue's budget, the earliest
    due time still to come in a queue that has room, and whether a queue with due runs
    has less room than a whole batch, so that the scheduler looks again as slots free
    rather than spinning on it: ``full`` for any reason, ``backlogged`` when the
    backlog bound is what limits it (workers starting runs free that room, and they send
    no NOTIFY for it; a finished run of a limited queue does)."""

    groups: list[Group] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)
    next_due: datetime | None = None
    full: bool = False
    backlogged: bool = False

    def quotas(self) -> list[int]:
        """Each due group's share of its queue's budget: the budget split evenly between
        the queue's owners with due runs (a group takes at most that many runs)."""
        owners: dict[str, set[uuid.UUID]] = {}
        for group in self.groups:
            owners.setdefault(group.queue, set()).add(group.owner_id)
        return [max(1, math.ceil(self.slots[g.queue] / len(owners[g.queue]))) for g in self.groups]

    def only(self, queue: str) -> DuePlan:
        """The plan for one queue: the groups and budget of ``queue`` alone."""
        groups = [group for group in self.groups if group.queue == queue]
        slots = {queue: self.slots[queue]} if queue in self.slots else {}
        return DuePlan(groups, slots, self.next_due, self.full, self.backlogged)

    @property
    def claimable(self) -> list[tuple[Group, int]]:
        return [
            (group, quota)
            for group, quota in zip(self.groups, self.quotas(), strict=True)
            if self.slots[group.queue] > 0
        ]


def due_groups(
    conn: Connection, now: datetime, *, held: Sequence[str], limit: int, backlog: int
) -> DuePlan:
    plan = DuePlan()
    rows = conn.execute(
        DUE_GROUPS, {"now": now, "held": list(held), "limit": limit, "backlog": backlog}
    ).mappings()
    for row in rows:
        slots = int(row["slots"])
        if row["owner_id"] is None:
            if slots > 0 and (plan.next_due is None or row["first_due"] < plan.next_due):
                plan.next_due = row["first_due"]
            continue
        plan.slots[row["queue"]] = slots
        plan.groups.append(
            Group(row["queue"], row["owner_id"], row["priority"], row["first_due"], row["busy"])
        )
        if slots < limit:
            plan.full = True
            if row["backlog_room"] <= slots:
                plan.backlogged = True
    return plan


# What the dispatcher needs of a claimed run and its job.
CLAIMED_COLUMNS = (
    "r.id, r.job_id, r.attempt, r.origin, r.scheduled_for, r.due_at, r.priority, r.owner_id, "
    "j.queue, j.run_at, j.repeat, j.interval_seconds, j.cron, j.timezone, j.end_at, "
    "j.max_runs, j.run_count, j.misfire_policy, j.overlap_policy"
)

CLAIM_GROUPS = text(
    f"""
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:queues AS text[]), CAST(:owners AS uuid[]),
                             CAST(:priorities AS smallint[]), CAST(:quotas AS int[]),
                             CAST(:skips AS int[]), CAST(:busy AS int[]))
            AS w(queue, owner_id, priority, quota, skip, busy)
    ),
    taken AS (
        SELECT run.id, run.queue, run.owner_id, run.priority, run.due_at, w.busy
        FROM wanted AS w CROSS JOIN LATERAL (
            SELECT id, queue, owner_id, priority, due_at FROM runs
            WHERE state = 'pending' AND due_at IS NOT NULL AND queue = w.queue
                AND owner_id = w.owner_id AND priority = w.priority AND due_at <= :now
            ORDER BY due_at OFFSET w.skip LIMIT w.quota
            FOR UPDATE SKIP LOCKED
        ) AS run
    ),
    turns AS (
        SELECT id, queue, owner_id, priority, due_at, busy + row_number() OVER (
            PARTITION BY queue, owner_id ORDER BY priority DESC, due_at) AS turn
        FROM taken
    ),
    placed AS (
        SELECT t.id, t.owner_id, t.turn, t.priority, t.due_at, budget.slots, row_number()
            OVER (PARTITION BY t.queue ORDER BY t.turn, t.priority DESC, t.due_at) AS place
        FROM turns AS t JOIN unnest(CAST(:budget_queues AS text[]), CAST(:budgets AS int[]))
            AS budget(queue, slots) ON budget.queue = t.queue
    ),
    chosen AS (
        SELECT id, owner_id, turn, priority, due_at FROM placed WHERE place <= slots
        ORDER BY turn, priority DESC, due_at LIMIT :limit
    ),
    shared AS (
        SELECT id, owner_id, turn, count(*) OVER (PARTITION BY owner_id) AS share
        FROM chosen
    )
    SELECT {CLAIMED_COLUMNS}
    FROM shared AS c JOIN runs AS r ON r.id = c.id JOIN jobs AS j ON j.id = r.job_id
    -- The turns decide which runs make the batch; this, the order they are published
    -- in: the owners with the fewest runs in the batch first, each owner's in turn
    -- order. A small owner's runs so never wait in RabbitMQ behind a flood's share of
    -- the same batch, and RabbitMQ's round robin spreads them over the worker processes
    -- (in turns, A, B, A, B ... over two processes, all of B's went to one).
    ORDER BY c.share, c.owner_id, c.turn
    FOR UPDATE OF j SKIP LOCKED
    """
)


def claim_groups(conn: Connection, plan: DuePlan, now: datetime, limit: int) -> list[Row]:
    """Lock up to ``limit`` due runs of the plan's groups, in the fair order, and their
    jobs. A run whose job another transaction holds (a user's cancel, say) is left for
    the next claim.

    Each owner's share of a queue is its budget split evenly, so when a few owners have
    fewer due runs than their share, a second round hands what they left to the owners
    that used all of theirs: a batch is only short when the due runs are."""
    wanted = [(group, quota, 0) for group, quota in plan.claimable]
    if len(wanted) == 1:  # one owner's runs of one priority: no turns to take
        group = wanted[0][0]
        return _claim_one(conn, group, min(limit, plan.slots[group.queue]), now)
    rows = _claim(conn, wanted, plan.slots, now, limit)
    left = limit - len(rows)
    taken = Counter((row["queue"], row["owner_id"], row["priority"]) for row in rows)
    exhausted = [
        (group, taken[group.queue, group.owner_id, group.priority])
        for group, quota, _ in wanted
        if taken[group.queue, group.owner_id, group.priority] >= quota
    ]
    if left <= 0 or not exhausted:
        return rows
    used = Counter(row["queue"] for row in rows)
    budgets = {queue: slots - used[queue] for queue, slots in plan.slots.items()}
    owners: dict[str, set[uuid.UUID]] = {}
    for group, _ in exhausted:
        owners.setdefault(group.queue, set()).add(group.owner_id)
    again = [
        (group, math.ceil(budgets[group.queue] / len(owners[group.queue])), skip)
        for group, skip in exhausted
        if budgets[group.queue] > 0
    ]
    return rows + _claim(conn, again, budgets, now, left)


CLAIM_ONE_GROUP = text(
    f"""
    WITH taken AS (
        SELECT id FROM runs
        WHERE state = 'pending' AND due_at IS NOT NULL AND queue = :queue
            AND owner_id = :owner AND priority = :priority AND due_at <= :now
        ORDER BY due_at LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    SELECT {CLAIMED_COLUMNS}
    FROM runs AS r JOIN jobs AS j ON j.id = r.job_id
    WHERE r.id IN (SELECT id FROM taken)
    ORDER BY r.due_at
    FOR UPDATE OF j SKIP LOCKED
    """
)


def _claim_one(conn: Connection, group: Group, limit: int, now: datetime) -> list[Row]:
    """The common case, and the cheap one: a single due group takes the whole budget,
    in due order, with no turns to work out."""
    params = {
        "queue": group.queue,
        "owner": group.owner_id,
        "priority": group.priority,
        "now": now,
        "limit": limit,
    }
    return list(conn.execute(CLAIM_ONE_GROUP, params).mappings())


def _claim(
    conn: Connection,
    wanted: Sequence[tuple[Group, int, int]],
    budgets: dict[str, int],
    now: datetime,
    limit: int,
) -> list[Row]:
    """One round: (group, quota, runs of it to pass over) each."""
    if not wanted:
        return []
    params = {
        "queues": [group.queue for group, _, _ in wanted],
        "owners": [group.owner_id for group, _, _ in wanted],
        "priorities": [group.priority for group, _, _ in wanted],
        "quotas": [quota for _, quota, _ in wanted],
        "skips": [skip for _, _, skip in wanted],
        "busy": [group.busy for group, _, _ in wanted],
        "budget_queues": list(budgets),
        "budgets": list(budgets.values()),
        "now": now,
        "limit": limit,
    }
    return list(conn.execute(CLAIM_GROUPS, params).mappings())


def announce_free_slots(conn: Connection, queues: Sequence[str]) -> None:
    """Wake the schedulers (at commit) when runs of a queue with a concurrency limit
    finished: its due runs may be waiting for exactly these slots. An unlimited queue
    needs no NOTIFY, so a busy queue does not pay for one per batch."""
    if queues:
        conn.execute(
            text(
                "SELECT pg_notify(:channel, name) FROM queues "
                "WHERE name = ANY(:queues) AND concurrency IS NOT NULL"
            ),
            {"channel": NOTIFY_CHANNEL, "queues": list(queues)},
        )
