"""Rows to the response models of :mod:`shared.schemas`, and the models to JSON.

The models are built without validation (``model_construct``): the rows come from our
own database, already checked on the way in. pydantic's serialiser then writes the JSON
(times in UTC with milliseconds, ids as strings), faster than ``json.dumps`` would.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import falcon
from pydantic import BaseModel

from shared.errors import ValidationError
from shared.lifecycle import JobView, is_recurring
from shared.repository import Row
from shared.schemas import jobs as schemas
from shared.schemas import users as user_schemas

USER_FIELDS = tuple(user_schemas.User.model_fields)
RUN_FIELDS = tuple(name for name in schemas.Run.model_fields if name != "error")
SCHEDULE_FIELDS = tuple(schemas.Schedule.model_fields)
# The job's own columns; the rest of a Job is derived (schedule, recurring, next and last run).
DERIVED_JOB_FIELDS = {"schedule", "recurring", "next_run_at", "last_run"}
JOB_FIELDS = tuple(name for name in schemas.Job.model_fields if name not in DERIVED_JOB_FIELDS)


def respond(resp: falcon.Response, model: BaseModel, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = model.model_dump_json().encode()


def user(row: Row) -> user_schemas.User:
    return user_schemas.User.model_construct(**{name: row[name] for name in USER_FIELDS})


def run(row: Row) -> schemas.Run:
    error = row["error"]
    return schemas.Run.model_construct(
        **{name: row[name] for name in RUN_FIELDS},
        error=schemas.RunError.model_construct(**error) if error is not None else None,
    )


def job(view: JobView) -> schemas.Job:
    row = view.job
    return schemas.Job.model_construct(
        **{name: row[name] for name in JOB_FIELDS},
        schedule=schemas.Schedule.model_construct(**{name: row[name] for name in SCHEDULE_FIELDS}),
        recurring=is_recurring(row),
        next_run_at=view.next_run_at,
        last_run=run(view.last_run) if view.last_run is not None else None,
    )


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


def next_cursor(rows: Sequence[Row], limit: int) -> str | None:
    """A page holds ``limit`` items; one row more was fetched to know if another page exists."""
    return encode_cursor(rows[limit - 1]) if len(rows) > limit else None


def job_page(views: Sequence[JobView], rows: Sequence[Row], limit: int) -> schemas.JobPage:
    return schemas.JobPage.model_construct(
        items=[job(view) for view in views[:limit]], next_cursor=next_cursor(rows, limit)
    )


def run_page(rows: Sequence[Row], limit: int) -> schemas.RunPage:
    return schemas.RunPage.model_construct(
        items=[run(row) for row in rows[:limit]], next_cursor=next_cursor(rows, limit)
    )
