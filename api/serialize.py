"""Rows to the response models of :mod:`shared.schemas`, and the models to JSON.

The models are built without validation: the rows come from our own database, already
checked on the way in, and every field is given. pydantic's serialiser then writes the
JSON (times in UTC with milliseconds, ids as strings), faster than ``json.dumps`` would.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import falcon
from pydantic import BaseModel

from shared.errors import ValidationError
from shared.lifecycle import JobView, is_recurring
from shared.repository import Row
from shared.schemas import audit as audit_schemas
from shared.schemas import jobs as schemas
from shared.schemas import users as user_schemas

USER_FIELDS = tuple(user_schemas.User.model_fields)
AUDIT_FIELDS = tuple(audit_schemas.AuditEvent.model_fields)
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


# Cursors are signed, so that the API reads back only what it wrote: a cursor is the
# keyset position (created_at in microseconds since the epoch, and the row id) and an
# HMAC-SHA256 tag over it and the listing it pages, under a key of its own derived from
# CHRONOS_JWT_SECRET. A cursor of another listing, another user's, edited or made up gets
# 400. 36 bytes, so 48 URL-safe characters.
CURSOR_LABEL = b"chronos cursor v1"
_POSITION = struct.Struct(">q16s")
_TAG_BYTES = 12
_CURSOR_BYTES = _POSITION.size + _TAG_BYTES
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
NOT_A_CURSOR = "not a cursor this API issued"


@lru_cache(maxsize=8)
def cursor_key(secret: str) -> bytes:
    """The cursors' key: derived from the token secret under a label of its own, so that
    no cursor tag is ever a token signature, nor the other way round."""
    return hmac.new(secret.encode(), CURSOR_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Cursors:
    """The cursors of one listing: ``scope`` names it (``jobs:<user id>``,
    ``runs:<job id>``, ``audit``), and a cursor is only good for the scope it was issued
    in. ``column`` is the time the listing is ordered by, with the row id."""

    key: bytes
    scope: str
    column: str = "created_at"

    def _tag(self, position: bytes) -> bytes:
        signed = self.scope.encode() + b"\x00" + position
        return hmac.new(self.key, signed, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, row: Row) -> str:
        micros = (row[self.column] - _EPOCH) // _MICROSECOND
        position = _POSITION.pack(micros, row["id"].bytes)
        return base64.urlsafe_b64encode(position + self._tag(position)).decode()

    def decode(self, cursor: str) -> tuple[datetime, uuid.UUID]:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise ValidationError("cursor", NOT_A_CURSOR) from None
        # Only the exact text the API wrote: no padding games, no other alphabet.
        if len(raw) != _CURSOR_BYTES or base64.urlsafe_b64encode(raw).decode() != cursor:
            raise ValidationError("cursor", NOT_A_CURSOR)
        position, tag = raw[: _POSITION.size], raw[_POSITION.size :]
        if not hmac.compare_digest(tag, self._tag(position)):
            raise ValidationError("cursor", NOT_A_CURSOR)
        micros, row_id = _POSITION.unpack(position)
        try:
            moment = _EPOCH + micros * _MICROSECOND
        except OverflowError:  # only a cursor signed with our key gets here
            raise ValidationError("cursor", NOT_A_CURSOR) from None
        return moment, uuid.UUID(bytes=row_id)

    def after(self, cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
        """The position a page starts after: None for the first page."""
        return self.decode(cursor) if cursor else None

    def next(self, rows: Sequence[Row], limit: int) -> str | None:
        """A page holds ``limit`` items; one row more was fetched to know if another page
        exists."""
        return self.encode(rows[limit - 1]) if len(rows) > limit else None


def cursors(secret: str, scope: str, column: str = "created_at") -> Cursors:
    return Cursors(cursor_key(secret), scope, column)


def job_page(
    views: Sequence[JobView], rows: Sequence[Row], limit: int, pages: Cursors
) -> schemas.JobPage:
    return schemas.JobPage.model_construct(
        items=[job(view) for view in views[:limit]], next_cursor=pages.next(rows, limit)
    )


def run_page(rows: Sequence[Row], limit: int, pages: Cursors) -> schemas.RunPage:
    return schemas.RunPage.model_construct(
        items=[run(row) for row in rows[:limit]], next_cursor=pages.next(rows, limit)
    )


def audit_page(rows: Sequence[Row], limit: int, pages: Cursors) -> audit_schemas.AuditPage:
    items = [
        built(audit_schemas.AuditEvent, {name: row[name] for name in AUDIT_FIELDS})
        for row in rows[:limit]
    ]
    return audit_schemas.AuditPage.model_construct(items=items, next_cursor=pages.next(rows, limit))
