"""The bare Dramatiq actor of L2, run by ``dramatiq bench.l2_actor --processes 2
--threads 8``: per message, the two PostgreSQL commits that a Chronos run needs and
nothing else, each one UPDATE in its own transaction on a scratch table:

1. claim: ``queued -> running`` (as the worker's start of a run);
2. finish: ``running -> done`` (as the worker's record of the outcome).

Configured by environment: BENCH_L2_DATABASE_URL (libpq form), BENCH_L2_QUEUE and
BENCH_BROKER_URL.
"""

from __future__ import annotations

import os
import threading

import dramatiq
import psycopg
from dramatiq.brokers.rabbitmq import RabbitmqBroker

ACTOR_NAME = "bench_l2_claim_finish"
TABLE = "bench_l2"

broker = RabbitmqBroker(
    url=os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
)
dramatiq.set_broker(broker)
_local = threading.local()


def connection() -> psycopg.Connection[tuple[object, ...]]:
    """One autocommit connection per worker thread: each statement is one commit."""
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(
            os.environ["BENCH_L2_DATABASE_URL"], autocommit=True, application_name="bench-l2"
        )
        _local.conn = conn
    return conn


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=os.environ.get("BENCH_L2_QUEUE", "bench-l2"),
    max_retries=0,
)
def claim_and_finish(row_id: int) -> None:
    conn = connection()
    conn.execute(
        "UPDATE bench_l2 SET state = 'running', started_at = clock_timestamp() "
        "WHERE id = %s AND state = 'queued'",
        (row_id,),
    )
    conn.execute(
        "UPDATE bench_l2 SET state = 'done', finished_at = clock_timestamp() "
        "WHERE id = %s AND state = 'running'",
        (row_id,),
    )
