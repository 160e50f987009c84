"""The engine factory, the helper that creates the database when it is missing, and a
connection held by one thread across its transactions."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

from shared.clock import Clock, DatabaseClock
from shared.repository.dispatch import database_time

log = logging.getLogger("chronos.db")


# A connection used this recently is not pinged before its next use, as HikariCP's
# "alive bypass window" does: under load no request pays a round trip for the ping,
# and a connection that sat idle through a database restart is still caught.
PING_AFTER_IDLE_SECONDS = 1.0
# SQLAlchemy's default: how long a checkout waits for a free connection of a full pool.
POOL_TIMEOUT_SECONDS = 30.0


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
    application_name: str = "chronos",
    pre_ping: bool = True,
    durable_commits: bool = True,
    generic_plans: bool = False,
) -> Engine:
    """``durable_commits=False`` makes every commit asynchronous (``synchronous_commit =
    off``): only for a process whose every transaction is redone after a database crash
    (the scheduler, see DESIGN.md's dispatch protocol).

    ``generic_plans=True`` plans each prepared statement once per connection instead of
    at every execution (``plan_cache_mode = force_generic_plan``): for a process that
    runs a few fixed statements at a high rate, whose plans do not depend on their
    parameters (the worker's start and finish, by run ids)."""
    connect_args: dict[str, Any] = {"application_name": application_name, "connect_timeout": 10}
    options = []
    if not durable_commits:
        options.append("-c synchronous_commit=off")
    if generic_plans:
        options.append("-c plan_cache_mode=force_generic_plan")
    if options:
        connect_args["options"] = " ".join(options)
    engine = create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        # A statement's parameters are user data (a job's payload may hold an http job's
        # Authorization header): never in an error message, so never in a log line.
        hide_parameters=True,
        connect_args=connect_args,
    )
    # The API pings a connection that was idle before handing it out, so that no client
    # sees an error after a database restart. The worker and the scheduler don't: there
    # the first statement on a stale connection fails, SQLAlchemy discards the whole
    # pool, and the caller retries.
    if pre_ping:
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # None: opened just now
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (or opens one).
            raise exc.DisconnectionError(f"ping failed: {error}") from error


def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if it does not exist. True if it was created.

    Connects to the server's ``postgres`` maintenance database to do so, as ``createdb``
    does.
    """
    url = make_url(database_url)
    name = url.database
    if not name:
        raise ValueError("CHRONOS_DATABASE_URL: names no database")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists:
                return False
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(text(f"CREATE DATABASE {quoted}"))
            log.info("created database %s", name)
            return True
    finally:
        admin.dispose()


def database_clock(engine: Callable[[], Engine], host: Clock) -> DatabaseClock:
    """The clock of a process in production: PostgreSQL's (see :class:`DatabaseClock`).
    ``engine`` is called at each reading, so a worker reads through its forked process's
    own engine; ``host`` is only compared with it, for the log line on the offset."""

    def read() -> Any:
        with engine().connect() as conn:
            return database_time(conn)

    return DatabaseClock(read, host)


class HeldConnection:
    """One connection kept checked out by a single thread (a worker's batcher) across
    many short transactions, which then pay no pool checkout and return each. The thread
    calls :meth:`close` to give it back (when idle).

    Any error drops it (SQLAlchemy has invalidated it if the database went away), so the
    next use opens a fresh one; it is also replaced every ``max_age`` seconds, as the
    pool recycles its own."""

    def __init__(
        self, engine: Callable[[], Engine], max_age: float = 1800.0, **options: Any
    ) -> None:
        self._engine = engine
        self._options = options
        self._max_age = max_age
        self._conn: Connection | None = None
        self._opened = 0.0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Connection]:
        conn = self._conn
        if conn is None or time.monotonic() - self._opened > self._max_age:
            self.close()
            conn = self._engine().connect()
            if self._options:
                conn = conn.execution_options(**self._options)
            self._conn, self._opened = conn, time.monotonic()
        try:
            yield conn
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # it may already be broken
                conn.close()
