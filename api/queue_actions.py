"""The operator's controls of a queue (pause, resume, its concurrency limit), as both the
JSON API (``PATCH /queues/{name}`` and its shorthands) and the dashboard's queues page
take them: the same admin check, the same transaction and the same audit row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon

from api.resources.base import Resource, current_user
from shared.audit import Action, Change, ObjectType
from shared.errors import Forbidden, NotFound
from shared.repository import Row
from shared.repository import queues as queue_repo


def known_queue(resource: Resource, name: str) -> str:
    if name not in resource.settings.queues:
        raise NotFound(f"name: no queue {name[:64]!r} in CHRONOS_QUEUES")
    return name


def require_admin(req: falcon.Request) -> None:
    if not current_user(req).is_admin:
        raise Forbidden("only an admin may change a queue")


def change_queue(
    resource: Resource, req: falcon.Request, name: str, changes: dict[str, Any]
) -> Row:
    """Apply ``changes`` (``paused``; ``concurrency`` with ``set_concurrency``) to the
    named queue, audited when something changed; the queue as it now stands."""
    require_admin(req)
    known_queue(resource, name)
    now = resource.clock.now()
    with resource.transaction(req) as conn:
        updated = queue_repo.update_queue(conn, name, now, **changes)
        change = queue_changed(updated)
        if change is not None:
            resource.audit(conn, req, change, at=now)
        return queue_repo.list_queues(conn, [name], now, None)[0]


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
