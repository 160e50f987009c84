"""The audit log: record events in the caller's transaction, list them, prune old ones."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.audit import Action, Change, ObjectType
from shared.repository import Row, as_json, newest_first

EVENT_COLUMNS = "id, at, actor_id, action, object_type, object_id, request_id, details"

RECORD = text(
    f"""
    INSERT INTO audit_events ({EVENT_COLUMNS})
    SELECT id, :at, :actor_id, action, object_type, object_id, :request_id,
           CAST(details AS jsonb)
    FROM unnest(CAST(:id AS uuid[]), CAST(:action AS text[]), CAST(:object_type AS text[]),
                CAST(:object_id AS text[]), CAST(:details AS text[]))
         AS event(id, action, object_type, object_id, details)
    """
)


def record_many(
    conn: Connection,
    changes: Sequence[Change],
    *,
    at: datetime,
    actor_id: uuid.UUID | None,
    request_id: str | None,
) -> None:
    """One event per change, all by the same actor in the same request: one statement,
    however many (a batch of 1000 jobs is 1000 events)."""
    if not changes:
        return
    conn.execute(
        RECORD,
        {
            "id": [uuid.uuid4() for _ in changes],
            "action": [str(change.action) for change in changes],
            "object_type": [str(change.object_type) for change in changes],
            "object_id": [change.object_id for change in changes],
            "details": [as_json(change.details) for change in changes],
            "at": at,
            "actor_id": actor_id,
            "request_id": request_id,
        },
    )


def record(
    conn: Connection,
    *,
    at: datetime,
    actor_id: uuid.UUID | None,
    action: Action,
    object_type: ObjectType,
    object_id: str,
    request_id: str | None,
    details: Mapping[str, Any],
) -> None:
    """One event, in the caller's transaction: call it in the transaction that makes the
    change, after the change, so that the event commits or rolls back with it."""
    change = Change(action, object_type, object_id, dict(details))
    record_many(conn, [change], at=at, actor_id=actor_id, request_id=request_id)


FILTER_COLUMNS = ("actor_id", "object_id", "action")


def list_events(
    conn: Connection,
    *,
    filters: Mapping[str, Any],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """Newest first, keyset-paged on (at, id); ``filters`` by column (exact matches)."""
    return _newest_events(conn, f"SELECT {EVENT_COLUMNS} FROM audit_events", filters, limit, after)


# The events with their actor's account beside them: the users table in a subquery of its
# own renamed columns, so that ``id``, ``at`` and the filter columns are the event's.
EVENTS_WITH_ACTORS = (
    f"SELECT {', '.join(f'e.{column}' for column in EVENT_COLUMNS.split(', '))}, "
    "actor.username AS actor_username, actor.deleted_at IS NOT NULL AS actor_deleted "
    "FROM audit_events e LEFT JOIN (SELECT id AS user_id, username, deleted_at FROM users) "
    "actor ON actor.user_id = e.actor_id"
)


def list_events_with_actors(
    conn: Connection,
    *,
    filters: Mapping[str, Any],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """As :func:`list_events`, in the same one statement, plus ``actor_username`` (None
    once the account is purged, or for an operator at the command line) and
    ``actor_deleted`` (the account is being purged: its name may already be another's)."""
    return _newest_events(conn, EVENTS_WITH_ACTORS, filters, limit, after)


def _newest_events(
    conn: Connection,
    select: str,
    filters: Mapping[str, Any],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    clauses = [f"{column} = :{column}" for column in FILTER_COLUMNS if column in filters]
    params = {column: filters[column] for column in FILTER_COLUMNS if column in filters}
    return newest_first(conn, select, clauses, params, time_column="at", limit=limit, after=after)


def prune(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` events older than ``cutoff``, the oldest first (a pass cut
    short leaves the youngest); returns how many went."""
    return conn.execute(
        text(
            "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events "
            "WHERE at < :cutoff ORDER BY at LIMIT :limit FOR UPDATE SKIP LOCKED)"
        ),
        {"cutoff": cutoff, "limit": limit},
    ).rowcount
