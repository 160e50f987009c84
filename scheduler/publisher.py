"""Publishing run messages to RabbitMQ in confirmed batches.

A batch is published inside an AMQP transaction: ``tx.commit-ok`` comes back once
RabbitMQ has taken every message of the batch (persistent messages on durable queues),
so a whole batch costs one round trip instead of one confirm per message. Messages are
published ``mandatory``: one that no queue took comes back and is not counted as
confirmed, so its run is published again later rather than lost.

Queues are declared through Dramatiq's own broker, so that their arguments are exactly
the ones a stock Dramatiq worker declares.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker

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
    run_id: uuid.UUID
    message: dramatiq.Message[None]


class PublishError(Exception):
    """RabbitMQ could not be reached or refused the batch; nothing of it is confirmed."""


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._broker: RabbitmqBroker | None = None
        self._connection: pika.BlockingConnection | None = None
        self._channel: pika.adapters.blocking_connection.BlockingChannel | None = None
        self._declared: set[str] = set()
        self._returned: set[str] = set()

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
        try:
            self._returned.add(dramatiq.Message.decode(body).message_id)
        except dramatiq.errors.DecodeError:
            log.warning("a message we did not send came back from RabbitMQ")

    def declare(self, queue_name: str) -> None:
        if queue_name in self._declared:
            return
        if self._broker is None:
            url = self.parameters()
            self._broker = RabbitmqBroker(
                parameters=[
                    {
                        "host": url.host,
                        "port": url.port,
                        "virtual_host": url.virtual_host,
                        "credentials": url.credentials,
                        "ssl_options": url.ssl_options,
                        "socket_timeout": url.socket_timeout,
                        "stack_timeout": url.stack_timeout,
                        "connection_attempts": url.connection_attempts,
                        "heartbeat": url.heartbeat,
                        "blocked_connection_timeout": url.blocked_connection_timeout,
                    }
                ]
            )
        self._broker.declare_queue(queue_name, ensure=True)
        self._declared.add(queue_name)

    def publish(self, batch: Sequence[Outgoing]) -> list[uuid.UUID]:
        """Publish a batch; returns the run ids RabbitMQ confirmed."""
        if not batch:
            return []
        try:
            for item in batch:
                self.declare(item.message.queue_name)
            channel = self._open()
            self._returned.clear()
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
        except (pika.exceptions.AMQPError, dramatiq.errors.BrokerError, OSError) as error:
            self.close()
            raise PublishError(f"{error.__class__.__name__}: {error}") from error
        if self._returned:
            # No queue took them: a queue was deleted behind our back. Forget what we
            # declared, so that the next publish declares the queue again.
            log.warning(
                "RabbitMQ returned %d messages; they will be published again", len(self._returned)
            )
            self._forget_declarations()
        return [item.run_id for item in batch if item.message.message_id not in self._returned]

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
        self._forget_declarations()

    def _close_channel(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()

    def _forget_declarations(self) -> None:
        """Drop the declaring broker too: it remembers queues it declared, and would not
        declare a deleted one again."""
        if self._broker is not None:
            try:
                self._broker.close()
            except Exception:  # best effort on the way out
                log.debug("closing the declaring broker failed", exc_info=True)
            self._broker = None
            self._declared.clear()
