"""What every resource shares: its dependencies, and small request helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import falcon
from sqlalchemy import Connection, Engine

from api.auth import CurrentUser
from api.media import read_json
from shared.audit import Change
from shared.clock import Clock
from shared.limits import UserLimits
from shared.quotas import Quota
from shared.repository import audit as audit_repo
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

    def audit(
        self,
        conn: Connection,
        req: falcon.Request,
        *changes: Change,
        at: datetime | None = None,
        actor_id: uuid.UUID | None = None,
    ) -> None:
        """Record ``changes`` in the audit log, one event each, in ``conn``'s transaction.

        Call it inside the ``with self.transaction(req) as conn`` block that makes the
        change, once the change is made, and only if something changed: the events then
        commit, or roll back, with it. The actor is the request's user (or ``actor_id``,
        for a route without authentication), the request id its ``X-Request-Id`` and
        ``at`` the clock's now unless given. ``details`` is a small summary, never a
        copied body; for example, a queue change::

            self.audit(conn, req, Change(Action.QUEUE_UPDATE, ObjectType.QUEUE, name,
                                         {"paused": {"from": False, "to": True}}))
        """
        user: CurrentUser | None = req.context.get("user")
        audit_repo.record_many(
            conn,
            changes,
            at=self.clock.now() if at is None else at,
            actor_id=actor_id if actor_id is not None or user is None else user.id,
            request_id=req.context.get("request_id"),
        )

    def body(self, req: falcon.Request) -> dict[str, Any]:
        return read_json(req, self.settings.max_body_bytes)


def current_user(req: falcon.Request) -> CurrentUser:
    user: CurrentUser = req.context.user
    return user
