"""Queues: an operator's controls (``PATCH /queues/{name}``) and what a queue holds."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.fields import Closed, OptionalResponseTime, boolean, integer, invalid

MAX_CONCURRENCY = 10_000


class QueuePatch(Closed):
    """Any of the controls; those omitted are left as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    paused: Annotated[bool | None, boolean()] = Field(
        None,
        description=(
            "`true` holds the queue's due runs as `pending` (runs already queued or running "
            "go on); `false` lets them be claimed again, each following its job's "
            "`misfire_policy`."
        ),
    )
    concurrency: Annotated[int | None, integer(1, MAX_CONCURRENCY, nullable=True)] = Field(
        None,
        description=(
            "At most this many of the queue's runs queued or running at once, across every "
            "scheduler and worker; `null` removes the limit. Lowering it below what runs now "
            "stops nothing: no more runs start until the queue is under it."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _something(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and not raw:
            raise invalid("expected at least one of paused and concurrency")
        return raw


class Queue(BaseModel):
    """A configured queue, its controls, and its runs (the caller's own, or everyone's for
    an admin)."""

    name: str
    paused: bool = Field(description="Whether its due runs are held as `pending`.")
    concurrency: int | None = Field(
        description="At most this many of its runs queued or running at once; null: no limit."
    )
    pending_due: int = Field(description="Pending runs that are due (waiting to be claimed).")
    pending_future: int = Field(description="Pending runs not due yet.")
    queued: int = Field(description="Runs claimed and sent to RabbitMQ, not started yet.")
    running: int = Field(description="Runs executing now.")
    oldest_due_at: OptionalResponseTime = Field(
        description="When its longest-waiting due run fell due; null when none is due."
    )


class QueueList(BaseModel):
    """Every queue in `CHRONOS_QUEUES`."""

    items: list[Queue]
