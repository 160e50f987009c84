"""A freed slot of a limited queue goes to the worker thread that freed it.

When a run of a queue with a concurrency limit finishes, one slot frees. Left to the
scheduler, filling it costs the outcome's commit, a NOTIFY, the scheduler's claim and its
commit, a publish, a delivery and the next run's start: about 14 ms on 2 cores, over a
quarter of a 50 ms run. Instead the thread claims the queue's next due run in the
transaction that records the outcome, with the scheduler's own fair claim under the same
queue-row lock (so the limit holds across every scheduler and worker), and starts it at
once: one commit, and no message.

The thread keeps a slot for at most :data:`HOLD_SLOT_SECONDS`, then hands it back (the
NOTIFY wakes a scheduler), so that a queue's slots spread over the worker processes
again; a worker that is stopping hands it back at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from shared.claiming import claim_due
from shared.outcomes import record_outcomes
from shared.repository import Row
from shared.repository import claim as claim_repo
from shared.repository import dispatch as dispatch_repo
from shared.repository.dispatch import Outcome
from shared.settings import Settings

# How long one thread goes on taking its queue's freed slots before it hands one back.
HOLD_SLOT_SECONDS = 1.0


@dataclass(frozen=True)
class Handover:
    finished: list[Row]
    taken: Row | None


def finish_and_take_next(
    conn: Connection, settings: Settings, outcome: Outcome, queue: str, worker: str, now: datetime
) -> Handover:
    """Record ``outcome`` and start the next due run of ``queue`` in its place.

    Nothing is taken when the run was no longer running (so it freed no slot), or the
    queue is paused or unlimited, or nothing in it is due (or the run claimed was
    skipped by its misfire or overlap policy); the schedulers are then told of the free
    slot, as for any finished run. The queue's row is waited for, not skipped: a claim
    holds it for milliseconds, and two threads freeing slots at once both refill them."""
    finished = record_outcomes(conn, [outcome], now, announce=False)
    if not finished:
        return Handover(finished, None)
    taken: Row | None = None
    claimed = claim_due(conn, settings, now, 1, queue=queue)
    if claimed.queued:
        started = dispatch_repo.start_runs(conn, dispatch_repo.ids(claimed.queued), worker, now)
        taken = started[0] if started else None
    if taken is None:
        claim_repo.announce_free_slots(conn, [queue])
    return Handover(finished, taken)
