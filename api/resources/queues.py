"""Queues: every user sees them (with their own runs counted); admins steer them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon

from api import serialize
from api.resources.base import Resource, current_user
from shared.audit import Action, Change, ObjectType
from shared.errors import Forbidden, NotFound
from shared.repository import Row
from shared.repository import queues as queue_repo
from shared.schemas import queues as schemas
from shared.validation import parse_body

QUEUE_FIELDS = tuple(schemas.Queue.model_fields)


def queue(row: Row) -> schemas.Queue:
    return serialize.built(schemas.Queue, {name: row[name] for name in QUEUE_FIELDS})


class QueueResource(Resource):
    def _rows(self, req: falcon.Request, names: list[str]) -> list[Row]:
        me = current_user(req)
        with self.transaction(req) as conn:
            return queue_repo.list_queues(
                conn, names, self.clock.now(), None if me.is_admin else me.id
            )

    def _known(self, name: str) -> str:
        if name not in self.settings.queues:
            raise NotFound(f"name: no queue {name[:64]!r} in CHRONOS_QUEUES")
        return name


class QueueList(QueueResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        rows = self._rows(req, list(self.settings.queues))
        serialize.respond(resp, schemas.QueueList.model_construct(items=[queue(r) for r in rows]))


class QueueItem(QueueResource):
    """``GET``, ``PATCH``, and the pause and resume shorthands (admins only)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        serialize.respond(resp, queue(self._rows(req, [self._known(name)])[0]))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._admin(req)
        self._known(name)
        patch = parse_body(schemas.QueuePatch, self.body(req))
        changes: dict[str, Any] = {"paused": patch.paused}
        if "concurrency" in patch.model_fields_set:
            changes.update(concurrency=patch.concurrency, set_concurrency=True)
        self._change(req, resp, name, changes)

    def on_post_pause(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._admin(req)
        self._change(req, resp, self._known(name), {"paused": True})

    def on_post_resume(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._admin(req)
        self._change(req, resp, self._known(name), {"paused": False})

    def _admin(self, req: falcon.Request) -> None:
        if not current_user(req).is_admin:
            raise Forbidden("only an admin may change a queue")

    def _change(
        self, req: falcon.Request, resp: falcon.Response, name: str, changes: dict[str, Any]
    ) -> None:
        now = self.clock.now()
        with self.transaction(req) as conn:
            updated = queue_repo.update_queue(conn, name, now, **changes)
            change = queue_changed(updated)
            if change is not None:
                self.audit(conn, req, change, at=now)
            row = queue_repo.list_queues(conn, [name], now, None)[0]
        serialize.respond(resp, queue(row))


def queue_changed(updated: Mapping[str, Any]) -> Change | None:
    """The audit event of a queue change, with each control's old and new value; None
    when nothing changed (pausing a paused queue). A queue with no row yet was unpaused
    and unlimited."""
    was_paused = bool(updated["was_paused"])
    details: dict[str, Any] = {}
    if updated["paused"] != was_paused:
        details["paused"] = {"from": was_paused, "to": updated["paused"]}
    if updated["concurrency"] != updated["had_concurrency"]:
        details["concurrency"] = {"from": updated["had_concurrency"], "to": updated["concurrency"]}
    if not details:
        return None
    return Change(Action.QUEUE_UPDATE, ObjectType.QUEUE, updated["name"], details)
