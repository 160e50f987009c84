"""The worker: ``dramatiq worker`` (the standard Dramatiq CLI).

Importing this module builds the broker from the environment, declares the queues in
CHRONOS_QUEUES (with CHRONOS_QUEUE_PREFIX), and registers the two actors that execute
every job type: ``execute_run`` (a message of one run) and ``execute_runs`` (several).
Scale it with Dramatiq's own flags: ``--processes``, ``--threads`` and ``--queues``.
"""

from __future__ import annotations

import logging
import os
from functools import cache

import dramatiq
from dramatiq.middleware import CurrentMessage, prometheus
from sqlalchemy import Engine

from shared import jobtypes
from shared.broker import ACTOR_NAME, RUNS_ACTOR_NAME, make_broker, not_before_of
from shared.clock import host_clock
from shared.db import database_clock, make_engine
from shared.hardening import protect_process
from shared.logs import configure_logging
from shared.settings import load_log_format, load_settings
from worker import handlers
from worker.execution import Executor, FlushOutcomes
from worker.heartbeat import Heartbeat, InFlight
from worker.metrics import RunMetrics
from worker.registry import Registry
from worker.signals import merge_duplicate_sigterms
from worker.waiting import Waiting

# Chronos retries are runs that users can see, with their own backoff; Dramatiq's own
# would run an attempt twice behind our back. Time limits are enforced by the heartbeat
# (timeout_seconds, up to a day), so Dramatiq's 10-minute default must not cut in.
NO_DRAMATIQ_TIME_LIMIT_MS = 25 * 3600 * 1000

merge_duplicate_sigterms()
# Dramatiq's CLI has set up this process's handlers (a pipe to its parent) and level (-v):
# only the line format becomes Chronos's. First, so that load_settings' warnings use it.
configure_logging(load_log_format(os.environ), level=None)
settings = load_settings(signs_tokens=False)
# Before any job runs: a shell job's child must not read this process's environment.
protect_process()
logging.getLogger("chronos").setLevel(logging.INFO)
logging.getLogger("pika").setLevel(logging.WARNING)
handlers.install()
# The built-in types run in the worker's threads; an operator's own types (loaded next)
# run in a child process each, so a handler that kills its process kills only that.
BUILT_IN_TYPES = frozenset(name for name, job in jobtypes.REGISTRY.items() if job.handler)
jobtypes.load_job_modules(settings.job_modules)


@cache
def engine() -> Engine:
    """One engine per worker process, made after Dramatiq forks it."""
    return make_engine(
        settings.database_url,
        pool_size=12,
        application_name="chronos-worker",
        pre_ping=False,
        generic_plans=True,
    )


# Chronos's run metrics go where Dramatiq's Prometheus middleware keeps its own, so that
# its exposition server (dramatiq_prom_port, 9191) shows both. Set before RunMetrics()
# first imports prometheus-client, which picks where values live at that moment.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = prometheus.DB_PATH
clock = database_clock(engine, host_clock(os.environ, settings.env))
in_flight = InFlight()
broker = make_broker(settings)


def send_confirmed(message: dramatiq.Message[None]) -> bool:
    """Publish ``message`` through the worker's broker, which confirms every publish."""
    broker.enqueue(message)
    return True


executor = Executor(
    settings,
    engine,
    clock,
    in_flight,
    RunMetrics(),
    in_thread_types=BUILT_IN_TYPES,
    waiting=Waiting(send_confirmed),
)
# A message names its queue, and its not-before instant, only in its envelope.
broker.add_middleware(CurrentMessage())
# Not among Dramatiq's default middleware: added here, with its exposition server.
broker.add_middleware(prometheus.Prometheus())
broker.add_middleware(FlushOutcomes(executor))
broker.add_middleware(Heartbeat(in_flight, engine, clock, settings.heartbeat_seconds))
broker.add_middleware(Registry(settings, in_flight, engine))
dramatiq.set_broker(broker)


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=settings.queue_name(settings.queues[0]),
    max_retries=0,
    time_limit=NO_DRAMATIQ_TIME_LIMIT_MS,
)
def execute_run(run_id: str) -> None:
    executor.execute(run_id, not_before_of(current_message()))


@dramatiq.actor(
    actor_name=RUNS_ACTOR_NAME,
    queue_name=settings.queue_name(settings.queues[0]),
    max_retries=0,
    time_limit=NO_DRAMATIQ_TIME_LIMIT_MS,
)
def execute_runs(run_ids: list[str]) -> None:
    message = current_message()
    executor.execute_all(run_ids, message.queue_name, not_before_of(message))


def current_message() -> dramatiq.Message[None]:
    message = CurrentMessage.get_current_message()
    assert message is not None  # set by the middleware for every message processed
    return message
