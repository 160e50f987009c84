"""The engine factory, and the helper that creates the database when it is missing."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

log = logging.getLogger("chronos.db")


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    application_name: str = "chronos",
    pre_ping: bool = True,
) -> Engine:
    return create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # A ping before every checkout costs a round trip per transaction. The API pays it,
        # so that no client sees an error after a database restart. The worker and the
        # scheduler don't: there the first statement on a stale connection fails,
        # SQLAlchemy discards the whole pool, and the caller retries.
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        connect_args={"application_name": application_name, "connect_timeout": 10},
    )


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
