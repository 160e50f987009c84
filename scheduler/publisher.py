"""Publishing run messages to RabbitMQ in confirmed batches.

A batch is published inside an AMQP transaction: ``tx.commit-ok`` comes back once
RabbitMQ has taken every message of the batch (persistent messages on durable queues),
so a whole batch costs one round trip instead of one confirm per message. Messages are
published ``mandatory``: one that no queue took comes back and is not counted as
confirmed, so its run is published again later rather than lost.

The scheduler never declares a queue: the workers do (``dramatiq worker`` declares the
queues it consumes, with Dramatiq's own arguments). A publish to the default exchange
creates nothing, so a message for a queue no worker has declared comes back, its run
stays queued without a confirmed publish, and the log names the queue. Nothing piles up
in RabbitMQ for a queue that nothing consumes.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dramatiq
import pika

from shared.settings import Settings

log = logging.getLogger("chronos.scheduler.publisher")

PERSISTENT = 2
PERSISTENT_PROPERTIES = pika.BasicProperties(delivery_mode=PERSISTENT)
# Short timeouts: a blackholed broker (packets dropped, no refusal) must fail a publish in
# seconds, not pika's defaults (two 10 s connection attempts, a 60 s heartbeat).
CONNECT_TIMEOUT = 5.0
HEARTBEAT_SECONDS = 10
BLOCKED_TIMEOUT = 10.0


@dataclass(frozen=True)
class Outgoing:
    """One message, the runs it carries (one, or several of one queue), and the publish
    batch they were queued in (one receipt confirms the batch)."""

    run_ids: tuple[uuid.UUID, ...]
    message: dramatiq.Message[None]
    batch: uuid.UUID


class PublishError(Exception):
    """RabbitMQ could not be reached or refused the batch; nothing of it is confirmed."""


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: pika.BlockingConnection | None = None
        self._channel: pika.adapters.blocking_connection.BlockingChannel | None = None
        self._returned: set[str] = set()
        self._returned_queues: set[str] = set()
        # Told how many messages each publish got confirmed (the scheduler's metrics).
        self.on_confirmed: Callable[[int], object] | None = None

    def _open(self) -> pika.adapters.blocking_connection.BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._close_channel()
        self._connection = pika.BlockingConnection(self.parameters())
        channel = self._connection.channel()
        channel.tx_select()
        channel.add_on_return_callback(self._on_return)
        self._channel = channel
        return channel

    def parameters(self) -> pika.URLParameters:
        parameters = pika.URLParameters(self.settings.broker_url)
        parameters.socket_timeout = CONNECT_TIMEOUT
        parameters.stack_timeout = CONNECT_TIMEOUT
        parameters.connection_attempts = 1
        parameters.heartbeat = HEARTBEAT_SECONDS
        parameters.blocked_connection_timeout = BLOCKED_TIMEOUT
        return parameters

    def probe(self) -> bool:
        """Whether RabbitMQ takes a connection now (for the circuit breaker)."""
        try:
            self._open()
        except (pika.exceptions.AMQPError, OSError):
            self._close_channel()
            return False
        return True

    def _on_return(self, channel: object, method: object, properties: object, body: bytes) -> None:
        self._returned_queues.add(str(getattr(method, "routing_key", "?")))
        try:
            self._returned.add(dramatiq.Message.decode(body).message_id)
        except dramatiq.errors.DecodeError:
            log.warning("a message we did not send came back from RabbitMQ")

    def publish(self, batch: Sequence[Outgoing]) -> list[uuid.UUID]:
        """Publish a batch; returns the ids of the runs whose message RabbitMQ confirmed."""
        if not batch:
            return []
        try:
            channel = self._open()
            self._returned.clear()
            self._returned_queues.clear()
            # BlockingChannel.basic_publish writes each message to the socket before it
            # returns (a system call, and a fifth of the scheduler's time in a burst).
            # Inside a transaction nothing is settled until tx.commit, which sends
            # whatever is buffered: so the messages go through the channel underneath.
            buffered = channel._impl
            for item in batch:
                buffered.basic_publish(
                    exchange="",
                    routing_key=item.message.queue_name,
                    body=item.message.encode(),
                    properties=PERSISTENT_PROPERTIES,
                    mandatory=True,
                )
            channel.tx_commit()
            assert self._connection is not None
            self._connection.process_data_events(0)
        except (pika.exceptions.AMQPError, OSError) as error:
            self.close()
            raise PublishError(f"{error.__class__.__name__}: {error}") from error
        if self._returned:
            # No queue took them: no worker has declared the queue yet (or it was deleted).
            log.warning(
                "RabbitMQ returned %d messages: queue %s does not exist (no worker consuming "
                "it has started); the runs stay queued and are published again later",
                len(self._returned),
                ", ".join(sorted(self._returned_queues)),
            )
        confirmed = [item for item in batch if item.message.message_id not in self._returned]
        if self.on_confirmed is not None:
            self.on_confirmed(len(confirmed))
        return [run_id for item in confirmed for run_id in item.run_ids]

    def queue_depth(self, queue_name: str) -> int | None:
        """Messages ready in the queue, or None if RabbitMQ can't say right now."""
        try:
            channel = self._open()
            declared = channel.queue_declare(queue=queue_name, passive=True)
        except (pika.exceptions.AMQPError, OSError):
            self._close_channel()  # a passive declare of a missing queue closes the channel
            return None
        depth: int = declared.method.message_count
        return depth

    def keep_alive(self) -> None:
        """Serve the connection's heartbeats while the scheduler is idle."""
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.process_data_events(0)
            except pika.exceptions.AMQPError:
                self._close_channel()

    def close(self) -> None:
        self._close_channel()

    def _close_channel(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
