"""Queues as the API sees them: their controls and what they hold."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

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


UPDATE_QUEUE = text(
    """
    WITH old AS (SELECT paused, concurrency FROM queues WHERE name = :name FOR UPDATE),
    changed AS (
        INSERT INTO queues AS q (name, paused, concurrency, updated_at)
        VALUES (:name, coalesce(CAST(:paused AS boolean), false),
                CASE WHEN :set_concurrency THEN CAST(:concurrency AS integer) END, :now)
        ON CONFLICT (name) DO UPDATE SET
            paused = coalesce(CAST(:paused AS boolean), q.paused),
            concurrency = CASE WHEN :set_concurrency THEN CAST(:concurrency AS integer)
                               ELSE q.concurrency END,
            updated_at = :now
        RETURNING q.name, q.paused, q.concurrency
    )
    SELECT changed.name, changed.paused, changed.concurrency,
        old.paused AS was_paused, old.concurrency AS had_concurrency,
        -- Resumed, or given more room: wake the schedulers at commit.
        CASE WHEN NOT changed.paused AND (coalesce(old.paused, false)
                  OR (old.concurrency IS NOT NULL AND (changed.concurrency IS NULL
                      OR changed.concurrency > old.concurrency)))
             THEN pg_notify(:channel, changed.name) END AS woke
    FROM changed LEFT JOIN old ON true
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
) -> Row:
    """Change a queue's controls (creating its row if need be); the answer also has the
    old values, for the audit record."""
    params = {
        "name": name,
        "paused": paused,
        "concurrency": concurrency,
        "set_concurrency": set_concurrency,
        "now": now,
        "channel": NOTIFY_CHANNEL,
    }
    row = conn.execute(UPDATE_QUEUE, params).mappings().one()
    return row
