"""The Celery app of C6, run by ``celery -A bench.celery_tasks worker``: a task that
does one PostgreSQL write (it records when it started and finished on a scratch row),
and, for C9's mixed durations, one that sleeps first (as Chronos's ``sleep`` job type).

Configured by environment: BENCH_BROKER_URL, BENCH_CELERY_QUEUE and
BENCH_CELERY_DATABASE_URL (libpq form). The benchmark imports this module too, to send
the tasks, after setting the same variables.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import psycopg
from celery import Celery  # type: ignore[import-untyped, import-not-found, unused-ignore]

TASK_NAME = "bench.celery_touch"
SLEEP_TASK_NAME = "bench.celery_sleep"
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "chronos-bench-celery")

app = Celery("chronos_bench")
app.conf.update(
    broker_url=os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_ignore_result=True,
    # Persistent messages on a durable queue, as Chronos publishes (Celery's default).
    task_default_delivery_mode="persistent",
    worker_enable_remote_control=False,  # no pidbox queues left behind on the broker
    worker_send_task_events=False,
    enable_utc=True,
    timezone="UTC",
)

_local = threading.local()


def connection() -> psycopg.Connection[tuple[object, ...]]:
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(
            os.environ["BENCH_CELERY_DATABASE_URL"], autocommit=True, application_name="bench-c6"
        )
        _local.conn = conn
    return conn


@app.task(name=TASK_NAME)  # type: ignore[untyped-decorator, unused-ignore]
def touch(row_id: int) -> None:
    started = datetime.now(UTC)
    connection().execute(
        "UPDATE bench_celery SET started_at = %s, finished_at = clock_timestamp() WHERE id = %s",
        (started, row_id),
    )


@app.task(name=SLEEP_TASK_NAME)  # type: ignore[untyped-decorator, unused-ignore]
def sleep(row_id: int, seconds: float) -> None:
    started = datetime.now(UTC)
    time.sleep(seconds)
    connection().execute(
        "UPDATE bench_celery SET started_at = %s, finished_at = clock_timestamp() WHERE id = %s",
        (started, row_id),
    )
