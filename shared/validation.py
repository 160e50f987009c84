"""Request bodies into typed specs (:class:`~shared.jobs.JobSpec`): the schema models
check the shape, and this module adds the rules a schema cannot state. Pure: no I/O, ``now``
is passed in.

Every error names the field at fault (``schedule.cron: expected 5 fields, got 3``), so a
client can fix its request without reading our code. What only this module checks, the
OpenAPI document says in words: a ``run_at`` more than 5 minutes in the past, a cron
expression or time zone that does not exist, an ``end_at`` before the first occurrence,
a queue the deployment does not have, and who may submit which job type.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pydantic
from pydantic_core import PydanticCustomError

from shared import jobtypes
from shared.errors import Forbidden, ValidationError
from shared.jobs import JobSpec
from shared.recurrence import (
    Schedule,
    ScheduleError,
    first_occurrence,
    validate_cron,
    validate_timezone,
)
from shared.schemas import users
from shared.schemas.errors import translate
from shared.schemas.fields import Rule
from shared.schemas.fields import parse_time as _parse_time
from shared.schemas.jobs import RECURRENCE_FIELDS, ScheduleInput, SubmitFields, submit_variant

MAX_PAST = timedelta(minutes=5)
# CHRONOS_QUEUES' default; callers pass the deployment's own list.
DEFAULT_QUEUES = ("default",)


def check_field(rule: Rule, value: Any, field: str) -> Any:
    """One value against one field rule, outside any model (the admin CLI's prompts)."""
    try:
        return rule.validate(value)
    except PydanticCustomError as error:
        raise ValidationError(field, error.message()) from None


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 time with an offset, in UTC. A time with no offset is refused, not guessed."""
    return check_field(Rule(_parse_time, {}, nullable=False), value, field)  # type: ignore[no-any-return]


def parse_username(value: Any, field: str = "username") -> str:
    return check_field(users.USERNAME, value, field)  # type: ignore[no-any-return]


def parse_password(value: Any, field: str = "password") -> str:
    return check_field(users.PASSWORD, value, field)  # type: ignore[no-any-return]


def parse_email(value: Any, field: str = "email") -> str | None:
    return check_field(users.EMAIL, value, field)  # type: ignore[no-any-return]


def parse_body(model: type[pydantic.BaseModel], raw: Any, prefix: str = "") -> Any:
    """``raw`` validated by ``model``; the first error as a :class:`ValidationError`."""
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as error:
        raise translate(error, prefix) from None


def resolve_schedule(
    given: ScheduleInput, now: datetime, prefix: str = "schedule"
) -> tuple[Schedule, datetime]:
    """The rules of a schedule that its shape cannot say, and its first occurrence."""
    dotted = f"{prefix}." if prefix else ""
    run_at = now if given.run_at is None else given.run_at
    if run_at < now - MAX_PAST:
        raise ValidationError(
            f"{dotted}run_at", "is more than 5 minutes in the past (omit it to run now)"
        )
    recurrence = [key for key in RECURRENCE_FIELDS if getattr(given, key) is not None]
    if len(recurrence) > 1:
        raise ValidationError(
            f"{dotted}{recurrence[1]}", "give only one of repeat, interval_seconds, cron"
        )
    for field, check, value in (
        ("cron", validate_cron, given.cron),
        ("timezone", validate_timezone, given.timezone),
    ):
        if value is not None:
            try:
                check(value)
            except ScheduleError as error:
                raise ValidationError(f"{dotted}{field}", str(error)) from None
    schedule = Schedule(
        run_at=run_at,
        repeat=given.repeat,
        interval_seconds=given.interval_seconds,
        cron=given.cron,
        timezone=given.timezone,
        end_at=given.end_at,
        max_runs=given.max_runs,
    )
    first = first_occurrence(schedule)
    if first is None and schedule.end_at is not None:
        raise ValidationError(f"{dotted}end_at", "the schedule has no occurrence before end_at")
    if first is None:
        # A cron whose first match would fall after 9999-12-31T23:59:59Z.
        raise ValidationError(
            f"{dotted}run_at", "the schedule has no occurrence before the year 10000"
        )
    return schedule, first


def parse_schedule(
    raw: Any, now: datetime, *, prefix: str = "schedule"
) -> tuple[Schedule, datetime]:
    """The schedule and its first occurrence. An omitted schedule means: run once, now."""
    given = parse_body(ScheduleInput, {} if raw is None else raw, prefix)
    return resolve_schedule(given, now, prefix)


@lru_cache(maxsize=256)
def _variant(name: str, payload: type[pydantic.BaseModel] | None, admin_only: bool) -> Any:
    return submit_variant(name, payload, admin_only)


def submit_model(job_type: jobtypes.JobType) -> type[SubmitFields]:
    """The submit body of ``job_type``, as the OpenAPI document shows it."""
    return _variant(job_type.name, job_type.payload_model, job_type.admin_only)  # type: ignore[no-any-return]


def parse_submit(
    raw: Any,
    now: datetime,
    *,
    is_admin: bool,
    shell_enabled: bool,
    queues: Collection[str] = DEFAULT_QUEUES,
    prefix: str = "",
) -> JobSpec:
    """Validate a submit body. ``queues`` are the deployment's (CHRONOS_QUEUES): a job on
    any other queue would never run. ``prefix`` names its place in a batch (``jobs[3]``)."""
    try:
        return _parse_submit(
            raw, now, is_admin=is_admin, shell_enabled=shell_enabled, queues=queues
        )
    except ValidationError as error:
        if not prefix:
            raise
        raise error.within(prefix) from None


def job_type_of(raw: Mapping[str, Any]) -> jobtypes.JobType:
    known = ", ".join(sorted(jobtypes.REGISTRY))
    name = raw.get("type")
    if not isinstance(name, str) or not name:
        raise ValidationError("type", f"required: one of {known}")
    job_type = jobtypes.REGISTRY.get(name)
    if job_type is None:
        raise ValidationError("type", f"unknown job type {name[:64]!r}; expected one of {known}")
    return job_type


def check_queue(queue: str, queues: Collection[str], field: str = "queue") -> str:
    """A queue the deployment has (its shape is the schema's to check)."""
    if queue not in queues:
        known = ", ".join(queues)
        raise ValidationError(field, f"unknown queue {queue[:64]!r}; expected one of {known}")
    return queue


def _parse_submit(
    raw: Any, now: datetime, *, is_admin: bool, shell_enabled: bool, queues: Collection[str]
) -> JobSpec:
    if not isinstance(raw, Mapping):
        raise ValidationError("", "the body must be a JSON object")
    job_type = job_type_of(raw)
    if job_type.name == "shell" and not shell_enabled:
        raise Forbidden("type: shell jobs are disabled on this server (CHRONOS_ENABLE_SHELL_JOBS)")
    if job_type.admin_only and not is_admin:
        raise Forbidden(f"type: only admins may submit {job_type.name} jobs")

    body = parse_body(submit_model(job_type), raw)
    payload = body.payload
    if isinstance(payload, pydantic.BaseModel):
        stored = jobtypes.PayloadValidator(type(payload)).store(payload)
    else:
        try:
            stored = job_type.validate(payload or {})
        except ValidationError as error:
            raise error.within("payload") from None

    queue = check_queue(body.queue, queues)
    schedule, first_due = resolve_schedule(body.schedule or ScheduleInput(), now)
    return JobSpec(
        name=body.name or job_type.name,
        type=job_type.name,
        payload=stored,
        queue=queue,
        priority=body.priority,
        schedule=schedule,
        first_due=first_due,
        max_attempts=body.max_attempts,
        retry_backoff_seconds=body.retry_backoff_seconds,
        timeout_seconds=body.timeout_seconds,
        misfire_policy=body.misfire_policy,
        overlap_policy=body.overlap_policy,
    )
