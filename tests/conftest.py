"""Each test run gets its own PostgreSQL database, migrated with Alembic, and its own
RabbitMQ queue prefix, so that runs never collide on a shared machine."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from shared.db import ensure_database, make_engine
from shared.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
RUN_TOKEN = uuid.uuid4().hex[:10]


def server_url() -> str:
    return os.environ.get("CHRONOS_TEST_DATABASE_URL") or load_settings({}).database_url


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def sibling_database(database_url: str, suffix: str) -> Iterator[str]:
    """A migrated database named after ``database_url`` plus ``suffix``, dropped after:
    for suites whose real processes must see only their own rows."""
    url = make_url(database_url)
    rendered = url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)
    ensure_database(rendered)
    migrate(rendered)
    try:
        yield rendered
    finally:
        with contextlib.suppress(Exception):
            drop_database(rendered)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = make_url(server_url()).set(database=f"chronos_test_{RUN_TOKEN}")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    migrate(rendered)
    yield rendered
    drop_database(rendered)


@pytest.fixture(scope="session")
def queue_prefix() -> Iterator[str]:
    prefix = f"chronos-test-{RUN_TOKEN}."
    yield prefix
    delete_queues(prefix, ("default", "other"))


def delete_queues(prefix: str, queues: tuple[str, ...]) -> None:
    """Remove this run's queues (and Dramatiq's delay and dead-letter siblings) from the
    shared broker; a queue that was never declared is no error."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(load_settings({}).broker_url))
    except pika.exceptions.AMQPError:
        return
    try:
        channel = connection.channel()
        for queue in queues:
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(queue=f"{prefix}{queue}{suffix}")
    finally:
        connection.close()


# The suites submit many jobs fast, as ordinary users, with 1-second intervals and high
# priorities: the per-user limits (H2) stay out of their way. tests/integration/
# test_user_limits.py tests the limits themselves, with the defaults and tighter ones.
UNLIMITED_USERS = {
    "CHRONOS_MAX_LIVE_JOBS_PER_USER": "100000000",
    "CHRONOS_SUBMITS_PER_MINUTE": "100000000",
    "CHRONOS_MIN_INTERVAL_SECONDS": "1",
    "CHRONOS_MAX_USER_PRIORITY": "9",
}


@pytest.fixture(scope="session")
def settings(database_url: str, queue_prefix: str) -> Settings:
    return load_settings(
        {
            "CHRONOS_DATABASE_URL": database_url,
            "CHRONOS_QUEUE_PREFIX": queue_prefix,
            "CHRONOS_JWT_SECRET": "test-secret-" + "x" * 40,
            "CHRONOS_ENABLE_SHELL_JOBS": "true",
            "CHRONOS_QUEUES": "default,other",
            # Every test client logs in from 127.0.0.1; the throttle has its own tests.
            "CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
            "CHRONOS_SIGNUPS_PER_MINUTE": "100000",
            **UNLIMITED_USERS,
        }
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()
