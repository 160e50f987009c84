"""What every resource shares: its dependencies, and small request helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import falcon
from sqlalchemy import Connection, Engine

from api.auth import CurrentUser
from api.media import read_json
from shared.clock import Clock
from shared.errors import ValidationError
from shared.repository import UNSTORABLE
from shared.settings import Settings


class Resource:
    """A thin resource: validate, call one service or repository method, serialise."""

    auth_required = True

    def __init__(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock

    @contextmanager
    def transaction(self, req: falcon.Request) -> Iterator[Connection]:
        """A transaction on the request's connection (opened by authentication), or on a
        new one: committed when the block ends, rolled back if it raises."""
        conn: Connection | None = req.context.get("conn")
        if conn is None:
            with self.engine.begin() as own:
                yield own
            return
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def body(self, req: falcon.Request) -> dict[str, Any]:
        return read_json(req, self.settings.max_body_bytes)


def current_user(req: falcon.Request) -> CurrentUser:
    user: CurrentUser = req.context.user
    return user


def text_param(req: falcon.Request, name: str, max_length: int = 200) -> str | None:
    value = req.get_param(name)
    if value is None:
        return None
    if len(value) > max_length:
        raise ValidationError(name, f"at most {max_length} characters")
    if UNSTORABLE.search(value):
        raise ValidationError(name, "NUL and lone surrogate characters are not allowed")
    return value


def int_param(req: falcon.Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(name, "expected an integer") from None
    if not low <= value <= high:
        raise ValidationError(name, f"must be between {low} and {high}")
    return value
