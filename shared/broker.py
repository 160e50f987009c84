"""The Dramatiq broker and message format shared by the scheduler and the workers.

The scheduler publishes plain Dramatiq messages for the actor ``execute_run``, whose only
argument is the run id (also the message id), to queues declared exactly as Dramatiq
declares them. So a stock ``dramatiq worker`` consumes them with no custom glue.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from shared.settings import Settings

ACTOR_NAME = "execute_run"


def make_broker(settings: Settings) -> RabbitmqBroker:
    broker = RabbitmqBroker(url=settings.broker_url)
    for queue in settings.queues:
        broker.declare_queue(settings.queue_name(queue))
    return broker


def run_message(
    settings: Settings, queue: str, run_id: uuid.UUID, now: datetime
) -> dramatiq.Message[None]:
    return dramatiq.Message(
        queue_name=settings.queue_name(queue),
        actor_name=ACTOR_NAME,
        args=(str(run_id),),
        kwargs={},
        options={},
        message_id=str(run_id),
        message_timestamp=int(now.timestamp() * 1000),
    )


def declare_queues(settings: Settings) -> None:
    """Create the queues in ``settings.queues`` as a worker that consumes them does: the
    scheduler never declares a queue itself (see :mod:`scheduler.publisher`)."""
    broker = make_broker(settings)
    try:
        for queue in settings.queues:
            broker.declare_queue(settings.queue_name(queue), ensure=True)
    finally:
        broker.close()
