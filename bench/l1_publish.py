"""L1, the publish limit: how fast a bare pika publisher gets persistent messages into a
durable queue with RabbitMQ's guarantee that it has them.

This is the ceiling for C1 (dispatch): the scheduler cannot publish faster than RabbitMQ
accepts confirmed, persistent messages on this machine. Two ways are measured, both with
messages the size of a real run message:

- single: ``confirm_delivery()``, then each ``basic_publish`` waits for its confirm;
- batched: ``tx_select``, then batches of 500 each closed by one ``tx_commit``, the
  messages written through the channel underneath the blocking one so that each is
  buffered rather than sent on its own (the way Chronos's publisher sends a batch, so
  C1 is compared like with like).
"""

from __future__ import annotations

import time
import uuid

import pika

from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.report import Figure
from bench.workload import now_utc
from shared.broker import run_message

PERSISTENT = pika.BasicProperties(delivery_mode=2)


def publish_single(
    channel: pika.adapters.blocking_connection.BlockingChannel, queue: str, body: bytes, count: int
) -> float:
    channel.confirm_delivery()
    started = time.perf_counter()
    for _ in range(count):
        channel.basic_publish(exchange="", routing_key=queue, body=body, properties=PERSISTENT)
    return count / (time.perf_counter() - started)


def publish_batched(
    channel: pika.adapters.blocking_connection.BlockingChannel,
    queue: str,
    body: bytes,
    count: int,
    batch: int,
) -> float:
    channel.tx_select()
    started = time.perf_counter()
    sent = 0
    buffered = channel._impl
    while sent < count:
        size = min(batch, count - sent)
        for _ in range(size):
            buffered.basic_publish(exchange="", routing_key=queue, body=body, properties=PERSISTENT)
        channel.tx_commit()
        sent += size
    return count / (time.perf_counter() - started)


def measure(ctx: BenchContext) -> dict[str, Figure]:
    sizes = ctx.sizes
    queue = ctx.track_queue(f"{ctx.queue_prefix}l1")
    body = run_message(ctx.settings, "default", uuid.uuid4(), now_utc()).encode()
    connection = ctx.amqp()
    try:
        setup = connection.channel()
        setup.queue_declare(queue=queue, durable=True)
        single = publish_single(connection.channel(), queue, body, sizes.l1_single)
        setup.queue_purge(queue)
        batched = publish_batched(
            connection.channel(), queue, body, sizes.l1_batched, sizes.l1_batch_size
        )
        setup.queue_purge(queue)
    finally:
        connection.close()
    return {
        "l1_single": Figure(
            single, "/s", f"{sizes.l1_single:,} msgs, confirm each ({len(body)} B, persistent)"
        ),
        "l1_batched": Figure(
            batched,
            "/s",
            f"{sizes.l1_batched:,} msgs, tx_select/tx_commit per {sizes.l1_batch_size}",
        ),
    }


BENCHMARK = Benchmark("L1", {"l1_single": "/s", "l1_batched": "/s"}, measure)
