"""Rows to the response models of :mod:`shared.schemas`, and the models to JSON.

The models are built without validation: the rows come from our own database, already
checked on the way in, and every field is given. pydantic's serialiser then writes the
JSON (times in UTC with milliseconds, ids as strings), faster than ``json.dumps`` would.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

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
# A Job's fields are the job row's columns of the same names, but for four derived ones.
JOB_FIELDS = tuple(schemas.Job.model_fields)


M = TypeVar("M", bound=BaseModel)
_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


def built(model: type[M], values: dict[str, Any]) -> M:
    """``model.model_construct(**values)`` when ``values`` has every field, in the model's
    order (the JSON is written in it), without its per-field loop: that was a third of
    the cost of a page of jobs. tests/unit/test_serialize.py checks that it makes what
    ``model_construct`` makes."""
    fields = _FIELDS.get(model)
    if fields is None:
        fields = _FIELDS[model] = frozenset(model.model_fields)
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(fields))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def respond(resp: falcon.Response, model: BaseModel, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = model.model_dump_json().encode()


def user(row: Row) -> user_schemas.User:
    return built(user_schemas.User, {name: row[name] for name in USER_FIELDS})


def run(row: Row) -> schemas.Run:
    error = row["error"]
    values = {name: row[name] for name in RUN_FIELDS}
    values["error"] = None if error is None else schemas.RunError.model_construct(**error)
    return built(schemas.Run, values)  # "error" is the model's last field, as here


def job(view: JobView) -> schemas.Job:
    row = view.job
    derived = {
        "schedule": built(schemas.Schedule, {name: row[name] for name in SCHEDULE_FIELDS}),
        "recurring": is_recurring(row),
        "next_run_at": view.next_run_at,
        "last_run": run(view.last_run) if view.last_run is not None else None,
    }
    values = {name: derived[name] if name in derived else row[name] for name in JOB_FIELDS}
    return built(schemas.Job, values)


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
