"""Users: accounts, roles, password hashes, token versions and deleted accounts.

Usernames are looked up by ``username_folded``, the form :func:`shared.usernames.fold_username`
computed; SQL never folds case itself. An account being purged (``deleted_at`` set) is
invisible to every lookup here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from shared.errors import Conflict
from shared.repository import Row
from shared.usernames import fold_username

USER_COLUMNS = "id, username, email, password_hash, role, token_version, created_at, updated_at"
UPDATABLE = ("username", "email", "password_hash", "role")
LIVE = "deleted_at IS NULL"


def insert_user(
    conn: Connection,
    *,
    username: str,
    email: str | None,
    password_hash: str,
    role: str,
    now: datetime,
) -> Row:
    try:
        with conn.begin_nested():
            return (
                conn.execute(
                    text(
                        f"INSERT INTO users ({USER_COLUMNS}, username_folded) VALUES "
                        "(:id, :username, :email, :password_hash, :role, 0, :now, :now, "
                        f":folded) RETURNING {USER_COLUMNS}"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "username": username,
                        "folded": fold_username(username),
                        "email": email,
                        "password_hash": password_hash,
                        "role": role,
                        "now": now,
                    },
                )
                .mappings()
                .one()
            )
    except IntegrityError:
        raise Conflict(f"username: {username!r} is taken") from None


GET_USER = text(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id AND {LIVE}")
GET_USER_LOCKED = text(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id AND {LIVE} FOR UPDATE")


def get_user(conn: Connection, user_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    """Every authenticated request asks this, so the statement is built once. With
    ``lock``, the row stays as read until the transaction ends (for an update that
    records what it changed)."""
    statement = GET_USER_LOCKED if lock else GET_USER
    return conn.execute(statement, {"id": user_id}).mappings().first()


def find_user_by_username(conn: Connection, username: str) -> Row | None:
    return (
        conn.execute(
            text(f"SELECT {USER_COLUMNS} FROM users WHERE username_folded = :folded AND {LIVE}"),
            {"folded": fold_username(username)},
        )
        .mappings()
        .first()
    )


def update_user(
    conn: Connection, user_id: uuid.UUID, changes: Mapping[str, Any], now: datetime
) -> Row | None:
    """Apply the changes. A new password, or a role that differs from the stored one,
    raises ``token_version``, which ends every token issued before."""
    columns = [column for column in UPDATABLE if column in changes]
    params: dict[str, Any] = {column: changes[column] for column in columns}
    assignments = "".join(f"{column} = :{column}, " for column in columns)
    if "username" in changes:
        assignments += "username_folded = :folded, "
        params["folded"] = fold_username(changes["username"])
    bumps = []
    if "password_hash" in changes:
        bumps.append("1")
    if "role" in changes:
        bumps.append("CASE WHEN role = :role THEN 0 ELSE 1 END")
    if bumps:
        assignments += f"token_version = token_version + {' + '.join(bumps)}, "
    try:
        with conn.begin_nested():
            return (
                conn.execute(
                    text(
                        f"UPDATE users SET {assignments}updated_at = :now "
                        f"WHERE id = :id AND {LIVE} RETURNING {USER_COLUMNS}"
                    ),
                    {**params, "id": user_id, "now": now},
                )
                .mappings()
                .first()
            )
    except IntegrityError:
        raise Conflict(f"username: {changes.get('username')!r} is taken") from None


def lock_user(conn: Connection, user_id: uuid.UUID) -> bool:
    """Lock the account's row until the transaction ends, so that the user's submits are
    counted one after another (shared.quotas). ``FOR NO KEY UPDATE``: inserting a job
    that references the row (a ``FOR KEY SHARE`` check) is not blocked by it."""
    locked = conn.execute(
        text(f"SELECT 1 FROM users WHERE id = :id AND {LIVE} FOR NO KEY UPDATE"), {"id": user_id}
    ).first()
    return locked is not None


def lock_admins(conn: Connection) -> list[uuid.UUID]:
    """Lock every admin row and return their ids, so that two admins demoting or deleting
    each other at once cannot both succeed and leave none: the second waits, and then
    sees one admin fewer."""
    rows = conn.execute(
        text(f"SELECT id FROM users WHERE role = 'admin' AND {LIVE} ORDER BY id FOR UPDATE")
    )
    return [row.id for row in rows]


def mark_deleted(conn: Connection, user_id: uuid.UUID, now: datetime) -> bool:
    """The part of a deletion that must happen at once, whatever the account's size: the
    account disappears from every lookup (its tokens get 401, its name is free), its jobs
    are cancelled, unstarted runs are deleted and running ones are asked to stop. Its
    finished runs are left for :func:`purge_runs`."""
    tombstoned = conn.execute(
        text(
            "UPDATE users SET deleted_at = :now, username_folded = NULL, "
            f"token_version = token_version + 1 WHERE id = :id AND {LIVE}"
        ),
        {"id": user_id, "now": now},
    ).rowcount
    if not tombstoned:
        return False
    owned = "job_id IN (SELECT id FROM jobs WHERE owner_id = :id)"
    conn.execute(
        text(f"DELETE FROM runs WHERE {owned} AND state IN ('pending', 'queued')"),
        {"id": user_id},
    )
    conn.execute(
        text(
            "UPDATE runs SET cancel_requested_at = :now "
            f"WHERE {owned} AND state = 'running' AND cancel_requested_at IS NULL"
        ),
        {"id": user_id, "now": now},
    )
    conn.execute(
        text(
            "UPDATE jobs SET status = 'cancelled', updated_at = :now "
            "WHERE owner_id = :id AND status <> 'cancelled'"
        ),
        {"id": user_id, "now": now},
    )
    return True


def deleted_users(conn: Connection, limit: int) -> list[uuid.UUID]:
    """Deleted accounts still waiting for their purge, oldest first."""
    rows = conn.execute(
        text(
            "SELECT id FROM users WHERE deleted_at IS NOT NULL "
            "ORDER BY deleted_at LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        {"limit": limit},
    )
    return [row.id for row in rows]


def purge_runs(conn: Connection, user_id: uuid.UUID, batch: int) -> int:
    """Delete up to ``batch`` runs of a deleted account; returns how many went."""
    return conn.execute(
        text(
            "DELETE FROM runs WHERE id IN (SELECT r.id FROM runs r JOIN jobs j ON j.id = r.job_id "
            "WHERE j.owner_id = :id LIMIT :batch)"
        ),
        {"id": user_id, "batch": batch},
    ).rowcount


def delete_user(conn: Connection, user_id: uuid.UUID) -> bool:
    """Delete the account row; its jobs (and any runs left) go with it (ON DELETE CASCADE)."""
    deleted = conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
    return deleted.rowcount > 0
