"""Packing a claimed batch into messages: one run per message for a trickle, up to
``CHRONOS_RUNS_PER_MESSAGE`` runs per message while a queue has a backlog.

Each message costs Dramatiq, pika and RabbitMQ about the same whatever it carries (a
deliver, a dispatch to a thread, an ack), and that per-message cost is most of what a
no-op run costs. Sharing it between several runs is what lets a burst drain faster
than one message per run allows (perf-design §2A).

The number of runs per message adapts to the claim: a queue's share of a batch is split
into at least ``min_messages`` messages before any message carries a second run. So a
claim of 32 runs or fewer (a trickle, a lone run, the first small claim after an idle
wait) travels one run per message, exactly as before, and a claim of 500 goes as 32
messages of 16: enough messages for every worker thread to take one.

A worker runs a message's runs one after another, and starts each one only when its
handler is about to begin (worker.execution), so a run that waits behind another in its
message is still ``queued``: it is neither timed nor lost if the worker dies.

Runs of a queue with a concurrency limit always travel one per message: each counts
against the limit from its claim, so one waiting inside another's message would hold a
slot that runs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from shared.repository import Row


def runs_per_message(count: int, *, most: int, min_messages: int) -> int:
    """How many runs each message carries when a queue's share of a claim is ``count``."""
    return max(1, min(most, math.ceil(count / min_messages)))


def pack(
    runs: Sequence[Row],
    *,
    most: int,
    min_messages: int,
    one_per_message: Collection[str] = (),
) -> list[list[Row]]:
    """The runs, in their claimed (fair) order, split into messages of one queue each."""
    by_queue: dict[str, list[Row]] = {}
    for run in runs:
        by_queue.setdefault(run["queue"], []).append(run)
    messages: list[list[Row]] = []
    for queue, queued in by_queue.items():
        size = (
            1
            if queue in one_per_message
            else runs_per_message(len(queued), most=most, min_messages=min_messages)
        )
        messages.extend(queued[start : start + size] for start in range(0, len(queued), size))
    return messages
