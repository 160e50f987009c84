"""Every SQL statement Chronos runs, one named function per database operation.

``api``, ``scheduler`` and ``worker`` call these and never build queries themselves.
Each function takes an open :class:`~sqlalchemy.Connection` (the caller owns the
transaction) and, where time matters, ``now``: nothing here reads the clock.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from shared.text import UNSTORABLE

Row = RowMapping


def as_json(value: Any) -> str | None:
    """JSONB parameters are sent as text and cast in SQL, so psycopg never guesses."""
    return None if value is None else json.dumps(value, separators=(",", ":"))


def storable(value: Any) -> Any:
    """``value`` (decoded JSON) made storable: unstorable characters become U+FFFD and
    non-finite numbers null. For what handlers return, which no client validated; a
    value PostgreSQL refuses would otherwise fail the whole batch it is written in."""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def newest_first(
    conn: Connection,
    select: str,
    clauses: Sequence[str],
    params: dict[str, Any],
    *,
    time_column: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """``select`` (``SELECT ... FROM ...``) where every clause holds, newest first,
    keyset-paged on (``time_column``, id): a page starts after the position ``after``."""
    where = list(clauses)
    params = {**params, "limit": limit}
    if after is not None:
        where.append(f"({time_column}, id) < (:after_time, :after_id)")
        params["after_time"], params["after_id"] = after
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    statement = f"{select}{condition} ORDER BY {time_column} DESC, id DESC LIMIT :limit"
    return list(conn.execute(text(statement), params).mappings())
