"""``python -m scheduler``: claims due runs and publishes them; SIGTERM or SIGINT stops it
cleanly after the pass in progress."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from scheduler import metrics
from scheduler.service import Scheduler
from shared.clock import host_clock
from shared.db import database_clock, make_engine
from shared.logs import configure_logging
from shared.settings import SettingsError, load_log_format, load_settings


def main() -> int:
    try:
        configure_logging(load_log_format(os.environ))  # first: load_settings may warn
        settings = load_settings(signs_tokens=False)
    except SettingsError as error:
        print(f"chronos scheduler: configuration error: {error}", file=sys.stderr)
        return 2
    logging.getLogger("pika").setLevel(logging.WARNING)
    # The scheduler's commits need not wait for the WAL flush. A crash of PostgreSQL
    # can lose only its last few transactions, and each is redone: a lost claim leaves
    # its run pending (a message already sent for it finds no queued run and is
    # dropped), and a lost mark, rescue or prune is done again by the next pass. A
    # worker's start, which must be durable before the handler runs, commits
    # synchronously and so flushes every earlier commit with it.
    engine = make_engine(
        settings.database_url,
        pool_size=2,
        application_name="chronos-scheduler",
        pre_ping=False,
        durable_commits=False,
    )
    observed = metrics.SchedulerMetrics()
    queues = metrics.QueueCollector(settings)
    observed.registry.register(queues)
    server = metrics.serve(settings, observed.registry)
    clock = database_clock(lambda: engine, host_clock(os.environ, settings.env))
    scheduler = Scheduler(settings, engine, clock, observed)

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("chronos.scheduler").info("signal %d: stopping", signum)
        scheduler.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.run()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        queues.close()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
