"""Query strings: paging, the job and audit filters and ``/upcoming``'s count.

Unknown query parameters are ignored, as most HTTP APIs do; known ones are checked with
the same rules as body fields, except that numbers arrive as text.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.audit import Action
from shared.schemas.fields import Rule, choice, invalid, text
from shared.states import JobStatus


def query_integer(low: int, high: int) -> Rule:
    """An integer written in a query string, from ``low`` to ``high``."""

    def check(value: Any) -> int:
        if not isinstance(value, str) or not value.strip().lstrip("+-").isdigit():
            raise invalid("expected an integer")
        number = int(value)
        if not low <= number <= high:
            raise invalid(f"must be between {low} and {high}")
        return number

    return Rule(check, {"type": "integer", "minimum": low, "maximum": high}, nullable=False)


UUID_TEXT = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)


def query_uuid() -> Rule:
    """A UUID in its usual written form (``8-4-4-4-12`` hex digits), or absent."""

    def check(value: Any) -> uuid.UUID:
        if not isinstance(value, str) or not UUID_TEXT.fullmatch(value):
            raise invalid("expected a UUID")
        return uuid.UUID(value)

    return Rule(check, {"type": "string", "format": "uuid"}, nullable=True)


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PageQuery(Query):
    limit: Annotated[int, query_integer(1, 200)] = Field(
        50, description="At most this many items per page; out of range gets `400`."
    )
    cursor: Annotated[str | None, text(max_length=512)] = Field(
        None,
        description=(
            "The `next_cursor` of the previous page. One this API did not issue gets `400`."
        ),
    )


FILTER = text(max_length=200)


class JobFilters(PageQuery):
    status: Annotated[str | None, choice(JobStatus)] = Field(
        None, description="Only jobs with this status; any other value gets `400`."
    )
    type: Annotated[str | None, FILTER] = Field(
        None,
        description=(
            "Only jobs of exactly this type. Any string is accepted: a type no job has gives "
            "an empty page."
        ),
    )
    queue: Annotated[str | None, FILTER] = Field(
        None,
        description=(
            "Only jobs sent to exactly this queue. Any string is accepted: a queue no job uses "
            "gives an empty page."
        ),
    )
    name: Annotated[str | None, FILTER] = Field(
        None, description="Only jobs with exactly this name."
    )

    def filters(self) -> dict[str, str]:
        """The filters given, by column."""
        given = {"status": self.status, "type": self.type, "queue": self.queue, "name": self.name}
        return {column: value for column, value in given.items() if value is not None}


class UpcomingQuery(Query):
    count: Annotated[int, query_integer(1, 100)] = Field(10, description="How many occurrences.")


class AuditFilters(PageQuery):
    actor: Annotated[uuid.UUID | None, query_uuid()] = Field(
        None, description="Only changes made by this user (an id); a malformed id gets `400`."
    )
    object_id: Annotated[str | None, FILTER] = Field(
        None, description="Only changes to this object: a job's or user's id, a queue's name."
    )
    action: Annotated[str | None, choice(Action)] = Field(
        None, description="Only changes of this kind; any other value gets `400`."
    )

    def filters(self) -> dict[str, Any]:
        """The filters given, by column."""
        given = {"actor_id": self.actor, "object_id": self.object_id, "action": self.action}
        return {column: value for column, value in given.items() if value is not None}
