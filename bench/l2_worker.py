"""L2, the worker limit: how many runs per second 2 Dramatiq processes x 8 threads can
take through PostgreSQL when each run costs exactly the two commits Chronos needs
(claim, finish) and nothing else (see :mod:`bench.l2_actor`).

This is the ceiling for C2: with the same worker shape, the same broker and the same
database, Chronos adds only its own bookkeeping (job locks, status, heartbeats) on top
of these two commits, plus the scheduler's work. The messages are queued first; the
figure runs from the first claim to the last finish, and a second one from the
moment the worker is spawned (so it includes Dramatiq's start-up).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import text

from bench.benchmark import Benchmark
from bench.context import BenchContext, libpq_url
from bench.procs import spawn, venv_tool, wait_for
from bench.report import Figure
from bench.stack import WORKER_PROCESSES, WORKER_THREADS

PERSISTENT = pika.BasicProperties(delivery_mode=2)
# bench.l2_actor's actor; not imported from there, as importing it sets a global broker.
ACTOR_NAME = "bench_l2_claim_finish"
BATCH = 500


def enqueue(ctx: BenchContext, queue: str, count: int, actor_name: str = ACTOR_NAME) -> None:
    """Dramatiq messages for row ids 1..count, declared and sent as Dramatiq would, in
    confirmed batches (the queuing is not what L2, or L0, measures)."""
    broker = RabbitmqBroker(url=ctx.broker_url)
    try:
        broker.declare_queue(queue, ensure=True)
    finally:
        broker.close()
    connection = ctx.amqp()
    try:
        channel = connection.channel()
        channel.tx_select()
        for row_id in range(1, count + 1):
            message: dramatiq.Message[None] = dramatiq.Message(
                queue_name=queue, actor_name=actor_name, args=(row_id,), kwargs={}, options={}
            )
            channel.basic_publish(
                exchange="", routing_key=queue, body=message.encode(), properties=PERSISTENT
            )
            if row_id % BATCH == 0:
                channel.tx_commit()
        channel.tx_commit()
    finally:
        connection.close()


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.l2_messages
    queue = ctx.track_queue(f"{ctx.queue_prefix}l2")
    with ctx.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_l2 (id integer PRIMARY KEY, state text NOT NULL, "
                "started_at timestamptz, finished_at timestamptz)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bench_l2 (id, state) SELECT g, 'queued' FROM generate_series(1, :n) g"
            ),
            {"n": count},
        )
    try:
        enqueue(ctx, queue, count)
        env = ctx.child_env(
            BENCH_L2_DATABASE_URL=libpq_url(ctx.database_url),
            BENCH_L2_QUEUE=queue,
            BENCH_BROKER_URL=ctx.broker_url,
        )
        argv = [
            venv_tool("dramatiq"),
            "bench.l2_actor",
            "--processes",
            str(WORKER_PROCESSES),
            "--threads",
            str(WORKER_THREADS),
        ]
        worker = spawn("l2-worker", argv, env, ctx.log_dir)
        try:
            wait_for(
                lambda: done(ctx) >= count,
                ctx.sizes.patience_seconds,
                f"the L2 worker to drain {count} messages",
                interval=0.1,
                children=[worker],
            )
        finally:
            worker.stop()
        with ctx.engine.connect() as conn:
            first, last = conn.execute(
                text("SELECT min(started_at), max(finished_at) FROM bench_l2")
            ).one()
    finally:
        with ctx.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_l2"))
    spawned = datetime.fromtimestamp(worker.started, UTC)
    busy = (last - first).total_seconds()
    overall = (last - spawned).total_seconds()
    shape = f"{count:,} msgs, {WORKER_PROCESSES} procs x {WORKER_THREADS} threads"
    return {
        "l2": Figure(count / busy, "/s", f"{shape}, first claim to last finish"),
        "l2_startup": Figure(
            count / overall, "/s", f"same, from spawning the worker ({overall:.1f} s)"
        ),
    }


def done(ctx: BenchContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM bench_l2 WHERE state = 'done'")) or 0)


BENCHMARK = Benchmark("L2", {"l2": "/s", "l2_startup": "/s"}, measure)
