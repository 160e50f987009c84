"""Rows to the JSON shapes of API.md."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from shared.clock import format_time
from shared.errors import ValidationError
from shared.lifecycle import JobView, is_recurring
from shared.repository import Row


def user(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "email": row["email"],
        "role": row["role"],
        "created_at": format_time(row["created_at"]),
        "updated_at": format_time(row["updated_at"]),
    }


def run(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "job_id": str(row["job_id"]),
        "attempt": row["attempt"],
        "scheduled_for": format_time(row["scheduled_for"]),
        "state": row["state"],
        "queued_at": format_time(row["queued_at"]),
        "started_at": format_time(row["started_at"]),
        "finished_at": format_time(row["finished_at"]),
        "worker": row["worker"],
        "result": row["result"],
        "error": row["error"],
    }


def job(view: JobView) -> dict[str, Any]:
    row = view.job
    return {
        "id": str(row["id"]),
        "owner_id": str(row["owner_id"]),
        "name": row["name"],
        "type": row["type"],
        "payload": row["payload"],
        "queue": row["queue"],
        "priority": row["priority"],
        "schedule": {
            "run_at": format_time(row["run_at"]),
            "repeat": row["repeat"],
            "interval_seconds": row["interval_seconds"],
            "cron": row["cron"],
            "timezone": row["timezone"],
            "end_at": format_time(row["end_at"]),
            "max_runs": row["max_runs"],
        },
        "recurring": is_recurring(row),
        "status": row["status"],
        "next_run_at": format_time(view.next_run_at),
        "last_run": run(view.last_run) if view.last_run is not None else None,
        "run_count": row["run_count"],
        "max_attempts": row["max_attempts"],
        "retry_backoff_seconds": row["retry_backoff_seconds"],
        "timeout_seconds": row["timeout_seconds"],
        "misfire_policy": row["misfire_policy"],
        "overlap_policy": row["overlap_policy"],
        "created_at": format_time(row["created_at"]),
        "updated_at": format_time(row["updated_at"]),
    }


def encode_cursor(row: Row) -> str:
    raw = json.dumps([row["created_at"].isoformat(), str(row["id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError("cursor", "not a cursor this API issued") from None


def page(items: list[dict[str, Any]], rows: list[Row], limit: int) -> dict[str, Any]:
    """A page of ``limit`` items; one row more was fetched to know if another page exists."""
    more = len(rows) > limit
    return {"items": items[:limit], "next_cursor": encode_cursor(rows[limit - 1]) if more else None}
