"""Preflight for the one-command start: check the services, create and migrate the
database. ``python -m shared.bootstrap`` (the Makefile's ``start`` runs it first).

It fails with a message that names what to start, rather than with a stack trace from
the first process that happens to connect.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pika
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from shared.db import ensure_database
from shared.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("chronos.bootstrap")


def check_rabbitmq(settings: Settings) -> str | None:
    parameters = pika.URLParameters(settings.broker_url)
    parameters.socket_timeout = 5
    parameters.connection_attempts = 1
    try:
        pika.BlockingConnection(parameters).close()
    except Exception as error:  # pika raises many unrelated types for "unreachable"
        where = f"{parameters.host}:{parameters.port}"
        return (
            f"RabbitMQ is not reachable at {where} ({error.__class__.__name__}). Start it "
            "(`rabbitmq-server -detached`, or `docker compose up -d rabbitmq`) or set "
            "CHRONOS_BROKER_URL."
        )
    return None


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # we report an unreachable broker
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"chronos: configuration error: {error}", file=sys.stderr)
        return 2
    url = make_url(settings.database_url)
    try:
        ensure_database(settings.database_url)
    except OperationalError as error:
        print(
            f"chronos: PostgreSQL is not reachable at {url.host}:{url.port or 5432} "
            f"({str(error.orig).strip().splitlines()[0] if error.orig else error}). Start it "
            "(`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or "
            "`docker compose up -d postgres`) or set CHRONOS_DATABASE_URL.",
            file=sys.stderr,
        )
        return 1
    problem = check_rabbitmq(settings)
    if problem:
        print(f"chronos: {problem}", file=sys.stderr)
        return 1
    migrate(settings.database_url)
    print(f"chronos: database {url.database} is migrated; RabbitMQ is up.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
