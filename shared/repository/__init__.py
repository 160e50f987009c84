"""Every SQL statement Chronos runs, one named function per database operation.

``api``, ``scheduler`` and ``worker`` call these and never build queries themselves.
Each function takes an open :class:`~sqlalchemy.Connection` (the caller owns the
transaction) and, where time matters, ``now``: nothing here reads the clock.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import RowMapping

Row = RowMapping


def as_json(value: Any) -> str | None:
    """JSONB parameters are sent as text and cast in SQL, so psycopg never guesses."""
    return None if value is None else json.dumps(value, separators=(",", ":"))
