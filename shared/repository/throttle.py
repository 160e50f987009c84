"""Fixed-window counters: login and sign-up throttling, and each user's submits per minute.

The table is still called ``login_throttle``; a key's prefix says what it counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from shared.repository import Row

COUNT = text(
    """
    INSERT INTO login_throttle AS t (key, window_start, attempts)
    SELECT key, :now, 1 FROM unnest(CAST(:keys AS text[])) AS key
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN t.window_start <= :now - :window THEN :now
                            ELSE t.window_start END,
        attempts = CASE WHEN t.window_start <= :now - :window THEN 1
                        ELSE t.attempts + 1 END
    RETURNING key, window_start, attempts
    """
)


def count_attempt(
    conn: Connection, keys: Sequence[str], now: datetime, window: timedelta
) -> dict[str, Row]:
    """Count one attempt against each key; returns each key's window and count."""
    rows = conn.execute(COUNT, {"keys": list(keys), "now": now, "window": window}).mappings()
    return {row["key"]: row for row in rows}


# Counts only what it admits: a take that would pass the limit changes nothing.
_ADMIT = """
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN t.window_start <= :now - :window THEN :now
                            ELSE t.window_start END,
        attempts = CASE WHEN t.window_start <= :now - :window THEN :amount
                        ELSE t.attempts + :amount END
    WHERE t.window_start <= :now - :window OR t.attempts + :amount <= :limit
    RETURNING key, window_start, attempts
"""
TAKE = text(
    "INSERT INTO login_throttle AS t (key, window_start, attempts) "
    f"SELECT :key, :now, :amount WHERE :amount <= :limit {_ADMIT}"
)
# TAKE, after locking a user's row: one round trip fewer inside the section that the lock
# serialises. The upsert acts on the counter's latest version whatever the snapshot, so
# it may share the statement that waited for the lock.
HOLD_AND_TAKE = text(
    "WITH held AS (SELECT id FROM users WHERE id = :user_id FOR NO KEY UPDATE) "
    "INSERT INTO login_throttle AS t (key, window_start, attempts) "
    f"SELECT :key, :now, :amount FROM held WHERE :amount <= :limit {_ADMIT}"
)


def take(
    conn: Connection,
    key: str,
    amount: int,
    limit: int,
    now: datetime,
    window: timedelta,
    *,
    holding: uuid.UUID | None = None,
) -> Row | None:
    """Count ``amount`` against the key if the window then stays within ``limit``; None
    (and nothing counted) if it would not. One statement, so concurrent takers cannot
    both pass a check made before either counted. With ``holding``, the statement first
    locks that user's row (``FOR NO KEY UPDATE``) until the transaction ends."""
    params = {"key": key, "amount": amount, "limit": limit, "now": now, "window": window}
    if holding is None:
        return conn.execute(TAKE, params).mappings().first()
    return conn.execute(HOLD_AND_TAKE, {**params, "user_id": holding}).mappings().first()


def current(conn: Connection, key: str, now: datetime, window: timedelta) -> Row | None:
    """The key's counter if its window is still open."""
    return (
        conn.execute(
            text(
                "SELECT key, window_start, attempts FROM login_throttle "
                "WHERE key = :key AND window_start > :now - :window"
            ),
            {"key": key, "now": now, "window": window},
        )
        .mappings()
        .first()
    )


def forget(conn: Connection, key: str) -> None:
    conn.execute(text("DELETE FROM login_throttle WHERE key = :key"), {"key": key})


def forget_expired(conn: Connection, before: datetime) -> int:
    return conn.execute(
        text("DELETE FROM login_throttle WHERE window_start < :before"), {"before": before}
    ).rowcount
