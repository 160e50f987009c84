"""Queues as the API sees them: their controls and what they hold."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.repository import Row
from shared.repository.runs import NOTIFY_CHANNEL

# One partial index answers each count: the fair claim's for due pending runs, the live
# runs' for the rest of the pending ones, and the queued and running ones' for those.
LIST_QUEUES = text(
    """
    SELECT n.name, coalesce(q.paused, false) AS paused, q.concurrency,
        due.n AS pending_due, due.oldest AS oldest_due_at,
        (SELECT count(*) FROM runs AS r WHERE r.state = 'pending' AND r.queue = n.name
            AND (CAST(:owner AS uuid) IS NULL OR r.owner_id = :owner)) - due.n AS pending_future,
        (SELECT count(*) FROM runs AS r WHERE r.state = 'queued' AND r.queue = n.name
            AND (CAST(:owner AS uuid) IS NULL OR r.owner_id = :owner)) AS queued,
        (SELECT count(*) FROM runs AS r WHERE r.state = 'running' AND r.queue = n.name
            AND (CAST(:owner AS uuid) IS NULL OR r.owner_id = :owner)) AS running
    FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, place)
    LEFT JOIN queues AS q ON q.name = n.name
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, min(r.due_at) AS oldest FROM runs AS r
        WHERE r.state = 'pending' AND r.due_at IS NOT NULL AND r.queue = n.name
            AND r.due_at <= :now AND (CAST(:owner AS uuid) IS NULL OR r.owner_id = :owner)
    ) AS due
    ORDER BY n.place
    """
)


def list_queues(
    conn: Connection, names: Sequence[str], now: datetime, owner_id: uuid.UUID | None
) -> list[Row]:
    """Each named queue with its controls and its live runs, of ``owner_id`` only unless
    None (an admin's view). A queue with no row yet is unpaused and unlimited."""
    params = {"names": list(names), "now": now, "owner": owner_id}
    return list(conn.execute(LIST_QUEUES, params).mappings())


LOCK_QUEUE = text("SELECT paused, concurrency FROM queues WHERE name = :name FOR UPDATE")

UPDATE_QUEUE = text(
    """
    INSERT INTO queues AS q (name, paused, concurrency, updated_at)
    VALUES (:name, coalesce(CAST(:paused AS boolean), false),
            CASE WHEN :set_concurrency THEN CAST(:concurrency AS integer) END, :now)
    ON CONFLICT (name) DO UPDATE SET
        paused = coalesce(CAST(:paused AS boolean), q.paused),
        concurrency = CASE WHEN :set_concurrency THEN CAST(:concurrency AS integer)
                           ELSE q.concurrency END,
        updated_at = :now
    RETURNING q.name, q.paused, q.concurrency,
        -- Resumed, or given more room: wake the schedulers at commit.
        CASE WHEN NOT q.paused AND (CAST(:was_paused AS boolean)
                  OR (CAST(:had_concurrency AS integer) IS NOT NULL AND (q.concurrency IS NULL
                      OR q.concurrency > CAST(:had_concurrency AS integer))))
             THEN pg_notify(:channel, q.name) END AS woke
    """
)


def update_queue(
    conn: Connection,
    name: str,
    now: datetime,
    *,
    paused: bool | None = None,
    concurrency: int | None = None,
    set_concurrency: bool = False,
) -> dict[str, Any]:
    """Change a queue's controls (creating its row if need be). The answer also has the
    old values (``was_paused``, ``had_concurrency``; a queue with no row was unpaused and
    unlimited), read under the row's lock, for the audit record."""
    old = conn.execute(LOCK_QUEUE, {"name": name}).mappings().first()
    was_paused = bool(old["paused"]) if old is not None else False
    had_concurrency = old["concurrency"] if old is not None else None
    params = {
        "name": name,
        "paused": paused,
        "concurrency": concurrency,
        "set_concurrency": set_concurrency,
        "was_paused": was_paused,
        "had_concurrency": had_concurrency,
        "now": now,
        "channel": NOTIFY_CHANNEL,
    }
    row = conn.execute(UPDATE_QUEUE, params).mappings().one()
    return {**row, "was_paused": was_paused, "had_concurrency": had_concurrency}


def ensure_queues(conn: Connection, names: Sequence[str]) -> None:
    """A row for each configured queue (unpaused, unlimited), leaving existing ones be."""
    conn.execute(
        text(
            "INSERT INTO queues (name) SELECT unnest(CAST(:names AS text[])) "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"names": list(names)},
    )
