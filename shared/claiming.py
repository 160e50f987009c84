"""Claiming due runs inside a caller's transaction: the fair claim of
:mod:`shared.repository.claim`, then each claimed run's misfire and overlap policies, the
job's next occurrence, and the pending → queued move.

The scheduler claims batches for every queue (:class:`scheduler.dispatcher.Dispatcher`).
A worker finishing a run of a limited queue claims the slot it just freed, for one queue
and one run, in the transaction that records the outcome (:mod:`worker.handover`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from shared.claim_plan import ClaimedRun, plan_claim
from shared.jobs import schedule_of
from shared.repository import Row
from shared.repository import claim as claim_repo
from shared.repository import dispatch as dispatch_repo
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.settings import Settings
from shared.states import OverlapPolicy, RunOrigin


@dataclass
class Claimed:
    """What one claim did: the runs it moved to ``queued`` (in the fair order), how many
    it skipped (misfire or overlap), and what it found (see ``DuePlan``)."""

    queued: list[Row] = field(default_factory=list)
    skipped: int = 0
    plan: claim_repo.DuePlan = field(default_factory=claim_repo.DuePlan)
    # The queues held with a concurrency limit: their runs travel one per message.
    limited: frozenset[str] = frozenset()


def claim_due(
    conn: Connection,
    settings: Settings,
    now: datetime,
    limit: int,
    *,
    queue: str | None = None,
    due_by: datetime | None = None,
    batch: uuid.UUID | None = None,
) -> Claimed:
    """Claim up to ``limit`` runs due by ``due_by`` (``now`` unless dispatching ahead):
    of every queue, or of ``queue`` alone (whose row must then be held with a concurrency
    limit: :func:`claim_repo.hold_queue`). ``batch``: the publish batch they go out in
    (None: the caller starts them at once, with no message)."""
    due_by = now if due_by is None else due_by
    if queue is None:
        held = claim_repo.hold_queues(conn, bounded=settings.queue_backlog > 0)
    elif claim_repo.hold_queue(conn, queue):
        held = {queue: True}
    else:
        return Claimed()
    limited = frozenset(name for name, is_limited in held.items() if is_limited)
    plan = claim_repo.due_groups(
        conn, due_by, held=list(held), limit=limit, backlog=settings.queue_backlog
    )
    if queue is not None:
        plan = plan.only(queue)
    rows = claim_repo.claim_groups(conn, plan, due_by, limit)
    if not rows:
        return Claimed(plan=plan, limited=limited)
    queued, skipped = _apply_policies(conn, settings, rows, now, batch)
    if batch is not None and queued:
        dispatch_repo.open_batch(conn, batch, now)
    return Claimed(queued, skipped, plan, limited)


def _apply_policies(
    conn: Connection, settings: Settings, rows: list[Row], now: datetime, batch: uuid.UUID | None
) -> tuple[list[Row], int]:
    grace = timedelta(seconds=settings.misfire_grace_seconds)
    live = Counter(_live_runs(conn, rows))
    to_queue: list[Row] = []
    skipped: dict[uuid.UUID, str] = {}
    following: list[dict[str, object]] = []
    occurrences: Counter[uuid.UUID] = Counter()
    replacing: list[uuid.UUID] = []
    ending: set[uuid.UUID] = set()
    for row in rows:
        job_id = row["job_id"]
        schedule = schedule_of(row)
        plan = plan_claim(
            ClaimedRun(
                origin=row["origin"],
                scheduled_for=row["scheduled_for"],
                schedule=schedule,
                run_count=row["run_count"] + occurrences[job_id],
                misfire_policy=row["misfire_policy"],
                overlap_policy=row["overlap_policy"],
                live_runs=live[job_id],
            ),
            now,
            grace,
            settings.max_catchup,
        )
        if plan.dispatch:
            to_queue.append(row)
            live[job_id] += 1
        else:
            skipped[row["id"]] = plan.skip_reason or "skipped"
            ending.add(job_id)
        if plan.counts_occurrence:
            occurrences[job_id] += 1
        if plan.replace_live:
            replacing.append(job_id)
        if plan.next_occurrence is not None:
            following.append(
                run_repo.run_params(job_id, plan.next_occurrence, priority=row["priority"], now=now)
            )
        elif schedule.recurring:
            ending.add(job_id)  # its schedule may be exhausted
    queued_ids = dispatch_repo.ids(to_queue)
    dispatch_repo.replace_live(conn, replacing, queued_ids, now)
    dispatch_repo.mark_queued(conn, queued_ids, now, batch)
    dispatch_repo.mark_skipped(conn, skipped, now)
    dispatch_repo.insert_next_occurrences(conn, following)
    # mark_queued moved the others from scheduled to queued; a job with a skipped run or
    # no next occurrence may have ended, which the full derivation decides.
    job_repo.refresh_status(conn, sorted(ending), now)
    return to_queue, len(skipped)


def _live_runs(conn: Connection, rows: list[Row]) -> dict[uuid.UUID, int]:
    """Queued or running runs of the claimed jobs, for the overlap policy: asked only for
    occurrences of recurring jobs whose policy is not ``allow``."""
    watched = sorted(
        {
            row["job_id"]
            for row in rows
            if row["origin"] == RunOrigin.SCHEDULE
            and row["overlap_policy"] != OverlapPolicy.ALLOW
            and schedule_of(row).recurring
        }
    )
    if not watched:
        return {}
    return dispatch_repo.live_counts(conn, watched, dispatch_repo.ids(rows))
