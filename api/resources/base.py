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
from shared.limits import UserLimits
from shared.quotas import Quota
from shared.settings import Settings


class Resource:
    """A thin resource: validate, call one service or repository method, serialise."""

    auth_required = True

    def __init__(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.limits = UserLimits.of(settings)

    def quota(self, user: CurrentUser) -> Quota | None:
        """The per-user limits the caller is held to; None for an admin (exempt)."""
        return None if user.is_admin else Quota(user.id, self.limits)

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
