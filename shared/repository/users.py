"""Users: accounts, roles and password hashes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from shared.errors import Conflict
from shared.repository import Row

USER_COLUMNS = "id, username, email, password_hash, role, created_at, updated_at"
UPDATABLE = ("username", "email", "password_hash", "role")


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
                        f"INSERT INTO users ({USER_COLUMNS}) VALUES "
                        "(:id, :username, :email, :password_hash, :role, :now, :now) "
                        f"RETURNING {USER_COLUMNS}"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "username": username,
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


GET_USER = text(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id")


def get_user(conn: Connection, user_id: uuid.UUID) -> Row | None:
    """Every authenticated request asks this, so the statement is built once."""
    return conn.execute(GET_USER, {"id": user_id}).mappings().first()


def find_user_by_username(conn: Connection, username: str) -> Row | None:
    return (
        conn.execute(
            text(f"SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower(:u)"),
            {"u": username},
        )
        .mappings()
        .first()
    )


def update_user(
    conn: Connection, user_id: uuid.UUID, changes: Mapping[str, Any], now: datetime
) -> Row | None:
    columns = [column for column in UPDATABLE if column in changes]
    assignments = "".join(f"{column} = :{column}, " for column in columns)
    try:
        with conn.begin_nested():
            return (
                conn.execute(
                    text(
                        f"UPDATE users SET {assignments}updated_at = :now WHERE id = :id "
                        f"RETURNING {USER_COLUMNS}"
                    ),
                    {**{column: changes[column] for column in columns}, "id": user_id, "now": now},
                )
                .mappings()
                .first()
            )
    except IntegrityError:
        raise Conflict(f"username: {changes.get('username')!r} is taken") from None


def delete_user(conn: Connection, user_id: uuid.UUID) -> bool:
    """Delete the user; their jobs and runs go with them (ON DELETE CASCADE)."""
    deleted = conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
    return deleted.rowcount > 0
