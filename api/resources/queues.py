"""Queues: every user sees them (with their own runs counted); admins steer them."""

from __future__ import annotations

from typing import Any

import falcon

from api import serialize
from api.queue_actions import change_queue, known_queue, require_admin
from api.resources.base import Resource, current_user
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


class QueueList(QueueResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        rows = self._rows(req, list(self.settings.queues))
        serialize.respond(resp, schemas.QueueList.model_construct(items=[queue(r) for r in rows]))


class QueueItem(QueueResource):
    """``GET``, ``PATCH``, and the pause and resume shorthands (admins only)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        serialize.respond(resp, queue(self._rows(req, [known_queue(self, name)])[0]))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        require_admin(req)
        known_queue(self, name)
        patch = parse_body(schemas.QueuePatch, self.body(req))
        changes: dict[str, Any] = {"paused": patch.paused}
        if "concurrency" in patch.model_fields_set:
            changes.update(concurrency=patch.concurrency, set_concurrency=True)
        serialize.respond(resp, queue(change_queue(self, req, name, changes)))

    def on_post_pause(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        serialize.respond(resp, queue(change_queue(self, req, name, {"paused": True})))

    def on_post_resume(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        serialize.respond(resp, queue(change_queue(self, req, name, {"paused": False})))
