"""The audit log as ``GET /audit`` answers it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from shared.audit import Action, ObjectType
from shared.schemas.fields import Id, ResponseTime, choice
from shared.schemas.jobs import PAGING_TEXT


class AuditEvent(BaseModel):
    """One change a user or operator made, recorded in the transaction that made it."""

    id: Id
    at: ResponseTime = Field(description="When the change was made.")
    actor_id: Id | None = Field(
        description=(
            "The user who made it; null for an operator at the command line "
            "(`python -m api.admin`). Kept after that user is deleted."
        )
    )
    action: Annotated[str, choice(Action)] = Field(description="What was done.")
    object_type: Annotated[str, choice(ObjectType)] = Field(description="What kind of object.")
    object_id: str = Field(description="Which object: a job's or user's id, a queue's name.")
    request_id: str | None = Field(
        description="The request's `X-Request-Id`, as in the API's logs; null outside the API."
    )
    details: dict[str, Any] = Field(
        description=(
            "A small summary of the change, e.g. a job's name, type, queue, priority and "
            "schedule, or the names of a user's changed fields and a role `from` and `to`. "
            "Never a password, a token or a payload's `headers`."
        )
    )


class AuditPage(BaseModel):
    __doc__ = PAGING_TEXT
    items: list[AuditEvent] = Field(max_length=200)
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last."
    )
