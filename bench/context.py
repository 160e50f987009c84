"""The run's own world: a fresh database (created and migrated with Alembic, dropped at
the end), a unique RabbitMQ queue prefix (every queue it names is deleted at the end,
with Dramatiq's ``.DQ``/``.XQ`` siblings), the environment for child processes and a
directory for their logs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pika
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bench.procs import ROOT, VENV_BIN
from bench.sizes import Sizes
from shared.broker import declare_queues
from shared.db import ensure_database, make_engine
from shared.settings import Settings, load_settings

JWT_SECRET = "bench-secret-" + "b" * 40  # a throwaway secret for this run
DRAMATIQ_SIBLINGS = ("", ".DQ", ".XQ")


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as plain psycopg wants it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class BenchContext:
    sizes: Sizes
    quick: bool
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    server_url: str = ""
    broker_url: str = ""
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chronos-bench-")))
    # CHRONOS_QUEUE_BACKLOG for every child (``--backlog``); None: the setting's default.
    queue_backlog: int | None = None
    queues: set[str] = field(default_factory=set)
    exchanges: set[str] = field(default_factory=set)
    _engine: Engine | None = None
    _created: bool = False

    def __post_init__(self) -> None:
        base = load_settings({"CHRONOS_JWT_SECRET": JWT_SECRET})
        self.server_url = os.environ.get("CHRONOS_DATABASE_URL") or base.database_url
        self.broker_url = os.environ.get("CHRONOS_BROKER_URL") or base.broker_url

    @property
    def database_url(self) -> str:
        url = make_url(self.server_url).set(database=f"chronos_bench_{self.token}")
        return url.render_as_string(hide_password=False)

    @property
    def queue_prefix(self) -> str:
        return f"chronos-bench-{self.token}."

    @property
    def chronos_queue(self) -> str:
        """The RabbitMQ queue the scheduler publishes to and the worker consumes."""
        return f"{self.queue_prefix}default"

    def child_env(self, **extra: str) -> dict[str, str]:
        """The environment of a Chronos process: only this run's CHRONOS_* settings."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("CHRONOS_")}
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "CHRONOS_DATABASE_URL": self.database_url,
                "CHRONOS_BROKER_URL": self.broker_url,
                "CHRONOS_QUEUE_PREFIX": self.queue_prefix,
                "CHRONOS_JWT_SECRET": JWT_SECRET,
                "CHRONOS_POLL_INTERVAL_SECONDS": "1",
                # The benchmarks and the soak submit as ordinary users, far faster and
                # more often than the per-user limits (H2) allow: those measure nothing here.
                "CHRONOS_MAX_LIVE_JOBS_PER_USER": "100000000",
                "CHRONOS_SUBMITS_PER_MINUTE": "100000000",
                "CHRONOS_MIN_INTERVAL_SECONDS": "1",
                "CHRONOS_MAX_USER_PRIORITY": "9",
            }
        )
        if self.queue_backlog is not None:
            env["CHRONOS_QUEUE_BACKLOG"] = str(self.queue_backlog)
        env.update(extra)
        return env

    @property
    def settings(self) -> Settings:
        return load_settings(self.child_env())

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url, application_name="chronos-bench")
        return self._engine

    def create(self) -> None:
        ensure_database(self.database_url)
        self._created = True
        migrate(self.database_url)
        self.queues.add(self.chronos_queue)
        # As a worker of it would: the scheduler never creates a queue, and some
        # benchmarks dispatch with no worker running.
        declare_queues(self.settings)

    def track_queue(self, name: str) -> str:
        self.queues.add(name)
        return name

    def amqp(self) -> pika.BlockingConnection:
        return pika.BlockingConnection(pika.URLParameters(self.broker_url))

    def purge(self, queue: str) -> None:
        connection = self.amqp()
        try:
            with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
                connection.channel().queue_purge(queue)
        finally:
            connection.close()

    def reset_tables(self) -> None:
        """Remove every job and run (users stay), between benchmarks."""
        with self.engine.begin() as conn:
            conn.execute(text("TRUNCATE runs, jobs"))

    def close(self, keep_logs: bool) -> list[str]:
        """Remove the database, the queues and (unless asked to keep them) the logs.
        Returns what could not be removed."""
        problems: list[str] = []
        if self._engine is not None:
            self._engine.dispose()
        if self._created:
            try:
                self._drop_database()
            except Exception as error:
                problems.append(f"database: {error}")
        try:
            self._delete_queues()
        except Exception as error:
            problems.append(f"queues: {error}")
        if not keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        return problems

    def _drop_database(self) -> None:
        url = make_url(self.database_url)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def _delete_queues(self) -> None:
        connection = self.amqp()
        try:
            for queue in sorted(self.queues):
                for suffix in DRAMATIQ_SIBLINGS:
                    channel = connection.channel()
                    # A missing queue closes the channel; the next one gets a fresh channel.
                    with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
                        channel.queue_delete(queue=f"{queue}{suffix}")
                        channel.close()
            for exchange in sorted(self.exchanges):
                channel = connection.channel()
                with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
                    channel.exchange_delete(exchange=exchange)
                    channel.close()
        finally:
            connection.close()
