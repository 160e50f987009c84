"""Shapes every part of the API shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from shared.schemas.fields import choice


class Error(BaseModel):
    """Every error body. `description` names the field at fault."""

    title: str = Field(
        description="A short summary of the kind of error.", examples=["Invalid input"]
    )
    description: str = Field(
        description="What went wrong, naming the field at fault.",
        examples=["schedule.cron: expected 5 fields, got 3"],
    )


class HealthStatus(BaseModel):
    """The process is up (or ready)."""

    status: Annotated[str, choice(["ok"])]
