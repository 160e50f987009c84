"""Runs whose message went missing after a confirmed publish are sent again, but only
from queues that are empty (a waiting message must not be doubled)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pika
import pytest
from sqlalchemy import Engine, text

from scheduler.dispatcher import Dispatcher
from scheduler.publisher import Publisher
from shared import lifecycle
from shared.broker import declare_queues
from shared.clock import FixedClock
from shared.repository.dispatch import PUBLISHED_AT
from shared.settings import Settings
from shared.validation import parse_submit

NOW = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def channel(settings: Settings) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    yield connection.channel()
    connection.close()


@pytest.fixture
def queues(settings: Settings, channel: Any) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"t{uuid.uuid4().hex[:8]}"
        made.append(settings.queue_name(name))
        return name

    yield make
    for name in made:
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(queue=name + suffix)


def queued_run(engine: Engine, owner: str, queue: str, published_ago: timedelta) -> uuid.UUID:
    spec = parse_submit(
        {"type": "noop", "queue": queue}, NOW, is_admin=False, shell_enabled=False, queues=[queue]
    )
    with engine.begin() as conn:
        view, _ = lifecycle.submit(conn, spec, owner_id=uuid.UUID(owner), now=NOW)
        run_id: uuid.UUID = conn.scalar(
            text(
                "UPDATE runs SET state = 'queued', queued_at = :at, published_at = :at "
                "WHERE job_id = :job RETURNING id"
            ),
            {"job": view.job["id"], "at": NOW - published_ago},
        )
    return run_id


def depth(channel: Any, queue_name: str) -> int:
    count: int = channel.queue_declare(queue=queue_name, passive=True).method.message_count
    return count


def test_a_stale_run_in_an_empty_queue_is_published_again_once(
    settings: Settings, engine: Engine, user: Any, channel: Any, queues: Callable[[], str]
) -> None:
    queue = queues()
    settings = dataclasses.replace(settings, queues=(queue,))
    publisher = Publisher(settings)
    dispatcher = Dispatcher(settings, engine, publisher, FixedClock(NOW))
    stale = queued_run(engine, user.id, queue, timedelta(minutes=10))
    fresh = queued_run(engine, user.id, queue, timedelta(minutes=1))
    publisher.queue_depth(settings.queue_name(queue))  # unknown queue: nothing breaks
    declare_queues(settings)
    try:
        assert dispatcher.redeliver_stale() == 1
        assert depth(channel, settings.queue_name(queue)) == 1
        _, _, body = channel.basic_get(settings.queue_name(queue), auto_ack=True)
        assert dramatiq.Message.decode(body).message_id == str(stale)
        assert dispatcher.redeliver_stale() == 0  # its publish is a new one: not again
        with engine.connect() as conn:
            published = dict(
                conn.execute(
                    text(
                        f"SELECT r.id, {PUBLISHED_AT} FROM runs AS r "  # noqa: S608
                        "WHERE r.id = ANY(:ids)"
                    ),
                    {"ids": [stale, fresh]},
                ).all()
            )
        assert published[stale] == NOW
        assert published[fresh] == NOW - timedelta(minutes=1)
    finally:
        publisher.close()


def test_a_stale_run_in_a_queue_with_waiting_messages_is_left_alone(
    settings: Settings, engine: Engine, user: Any, channel: Any, queues: Callable[[], str]
) -> None:
    queue = queues()
    settings = dataclasses.replace(settings, queues=(queue,))
    publisher = Publisher(settings)
    dispatcher = Dispatcher(settings, engine, publisher, FixedClock(NOW))
    queued_run(engine, user.id, queue, timedelta(minutes=10))
    try:
        declare_queues(settings)
        channel.basic_publish("", settings.queue_name(queue), b"a waiting message")
        assert dispatcher.redeliver_stale() == 0
        assert depth(channel, settings.queue_name(queue)) == 1
    finally:
        publisher.close()


def test_a_queued_run_whose_batch_has_no_row_is_not_left_behind(
    settings: Settings, engine: Engine, user: Any, channel: Any, queues: Callable[[], str]
) -> None:
    """None should exist (each batch's row is written with the runs it queues), but if
    one did, the stale-message redelivery still publishes it once its queue is empty."""
    queue = queues()
    settings = dataclasses.replace(settings, queues=(queue,))
    publisher = Publisher(settings)
    dispatcher = Dispatcher(settings, engine, publisher, FixedClock(NOW))
    orphan = queued_run(engine, user.id, queue, timedelta(minutes=10))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE runs SET published_at = NULL, batch_id = :batch WHERE id = :id"),
            {"batch": uuid.uuid4(), "id": orphan},
        )
    declare_queues(settings)
    try:
        assert dispatcher.redeliver_stale() == 1
        _, _, body = channel.basic_get(settings.queue_name(queue), auto_ack=True)
        assert dramatiq.Message.decode(body).message_id == str(orphan)
    finally:
        publisher.close()
