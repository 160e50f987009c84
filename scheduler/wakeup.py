"""Waking the scheduler: at the next due time, on a NOTIFY from the API, or after the
poll interval, whichever comes first. No fixed tick: a run due in 300 ms is claimed in
300 ms, and an idle scheduler costs one cheap query a second."""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy.engine import make_url

from shared.repository.runs import NOTIFY_CHANNEL

log = logging.getLogger("chronos.scheduler.wakeup")


def libpq_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Wakeup:
    """A LISTEN connection. If it breaks, waiting degrades to plain sleeping until it is
    re-opened, so a lost NOTIFY costs at most one poll interval."""

    def __init__(self, database_url: str) -> None:
        self.conninfo = libpq_url(database_url)
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _listen(self) -> psycopg.Connection[tuple[object, ...]] | None:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        try:
            self.conn = psycopg.connect(
                self.conninfo, autocommit=True, application_name="chronos-scheduler-listen"
            )
            self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as error:
            log.warning("cannot LISTEN for due runs (%s); polling only", error)
            self.conn = None
        return self.conn

    def wait(self, timeout: float, idle: threading.Event) -> bool:
        """Wait up to ``timeout`` seconds; True if a NOTIFY woke us."""
        if timeout <= 0:
            return False
        conn = self._listen()
        if conn is None:
            idle.wait(timeout)
            return False
        try:
            woken = False
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                woken = True
            return woken
        except psycopg.Error as error:
            log.warning("LISTEN connection failed (%s); reconnecting", error)
            self.close()
            return False

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
