"""The Dramatiq broker and message format shared by the scheduler and the workers.

The scheduler publishes plain Dramatiq messages to queues declared exactly as Dramatiq
declares them, so a stock ``dramatiq worker`` consumes them with no custom glue. A
message is one of two shapes:

- ``execute_run(run_id)``: one run; the message id is the run id. A trickle of runs
  travels this way, and so did every message before multi-run messages.
- ``execute_runs([run_id, ...])``: several runs of one queue, while the queue has a
  backlog (scheduler.packing); the message id is new, and names no run.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from shared.settings import Settings

ACTOR_NAME = "execute_run"
RUNS_ACTOR_NAME = "execute_runs"
# A message option: the Unix time (seconds) before which none of its runs may start.
NOT_BEFORE = "chronos_not_before"


def make_broker(settings: Settings) -> RabbitmqBroker:
    # Confirmed: a worker publishes only to send on runs waiting in a message
    # (worker.waiting), and must know RabbitMQ has them before it lets them go.
    broker = RabbitmqBroker(url=settings.broker_url, confirm_delivery=True)
    for queue in settings.queues:
        broker.declare_queue(settings.queue_name(queue))
    return broker


def run_message(
    settings: Settings, queue: str, run_id: uuid.UUID, now: datetime
) -> dramatiq.Message[None]:
    return message_for(settings.queue_name(queue), [run_id], now)


def runs_message(
    settings: Settings,
    queue: str,
    run_ids: Sequence[uuid.UUID],
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> dramatiq.Message[None]:
    """The message for ``run_ids``: one-run messages keep their old shape."""
    return message_for(settings.queue_name(queue), run_ids, now, not_before=not_before)


def message_for(
    queue_name: str,
    run_ids: Sequence[uuid.UUID],
    now: datetime | None = None,
    *,
    not_before: datetime | None = None,
) -> dramatiq.Message[None]:
    """The message for ``run_ids`` on the RabbitMQ queue ``queue_name``; ``not_before``:
    the instant before which the worker must start none of them (dispatched ahead)."""
    args: tuple[str] | tuple[list[str]]
    if len(run_ids) == 1:
        actor_name, args, message_id = ACTOR_NAME, (str(run_ids[0]),), str(run_ids[0])
    else:
        actor_name, message_id = RUNS_ACTOR_NAME, str(uuid.uuid4())
        args = ([str(run_id) for run_id in run_ids],)
    sent = now if now is not None else datetime.now(UTC)
    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={} if not_before is None else {NOT_BEFORE: not_before.timestamp()},
        message_id=message_id,
        message_timestamp=int(sent.timestamp() * 1000),
    )


def not_before_of(message: dramatiq.Message[None]) -> datetime | None:
    """The instant a message's runs may start, if it was dispatched ahead."""
    raw = message.options.get(NOT_BEFORE)
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        return None
    try:  # a huge integer overflows a float; a huge float, a datetime
        return datetime.fromtimestamp(raw, UTC) if math.isfinite(raw) else None
    except (OverflowError, OSError, ValueError):
        return None


def declare_queues(settings: Settings) -> None:
    """Create the queues in ``settings.queues`` as a worker that consumes them does: the
    scheduler never declares a queue itself (see :mod:`scheduler.publisher`)."""
    broker = make_broker(settings)
    try:
        for queue in settings.queues:
            broker.declare_queue(settings.queue_name(queue), ensure=True)
    finally:
        broker.close()
