"""Validation of request bodies into typed specs. Pure: no I/O, ``now`` is passed in.

Every error names the field at fault (``schedule.cron: expected 5 fields, got 3``), so a
client can fix its request without reading our code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import jobtypes
from shared.errors import Forbidden, ValidationError
from shared.recurrence import (
    REPEATS,
    Schedule,
    ScheduleError,
    first_occurrence,
    validate_cron,
    validate_timezone,
)
from shared.states import MisfirePolicy, OverlapPolicy

QUEUE_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,64}")
MAX_PAST = timedelta(minutes=5)
MAX_INT = 2**31 - 1

SUBMIT_FIELDS = {
    "name",
    "type",
    "payload",
    "queue",
    "priority",
    "schedule",
    "max_attempts",
    "retry_backoff_seconds",
    "timeout_seconds",
    "misfire_policy",
    "overlap_policy",
}
SCHEDULE_FIELDS = {"run_at", "repeat", "interval_seconds", "cron", "timezone", "end_at", "max_runs"}


@dataclass(frozen=True)
class JobSpec:
    """A valid submit body, with every default filled in."""

    name: str
    type: str
    payload: dict[str, Any]
    queue: str
    priority: int
    schedule: Schedule
    first_due: datetime
    max_attempts: int
    retry_backoff_seconds: int
    timeout_seconds: int
    misfire_policy: str
    overlap_policy: str


def require_body_object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("", "the body must be a JSON object")
    return body


def reject_unknown(body: Mapping[str, Any], known: set[str], prefix: str = "") -> None:
    for key in body:
        if key not in known:
            raise ValidationError(f"{prefix}{key}", "unknown field")


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 time with an offset. A time with no offset is refused, not guessed."""
    if not isinstance(value, str):
        raise ValidationError(field, "expected an RFC 3339 time string")
    if len(value) > 64 or "T" not in value.upper():
        raise ValidationError(field, "expected an RFC 3339 time such as 2026-12-01T09:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            field, "expected an RFC 3339 time such as 2026-12-01T09:00:00Z"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(field, "the time has no offset; add Z or +HH:MM")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError(field, "out of range") from None


def get_int(
    body: Mapping[str, Any], key: str, default: int, low: int, high: int, prefix: str = ""
) -> int:
    value = body.get(key, default)
    if value is None:
        value = default
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON does not tell 3 from 3.0, and JSON Schema calls both integers
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{prefix}{key}", "expected an integer")
    if not low <= value <= high:
        raise ValidationError(f"{prefix}{key}", f"must be between {low} and {high}")
    return value


def get_choice(body: Mapping[str, Any], key: str, choices: list[str], default: str) -> str:
    value = body.get(key, default)
    if value is None:
        value = default
    if value not in choices:
        raise ValidationError(key, f"expected one of {', '.join(choices)}")
    return str(value)


def parse_schedule(
    raw: Any, now: datetime, *, prefix: str = "schedule"
) -> tuple[Schedule, datetime]:
    """The schedule and its first occurrence. An omitted schedule means: run once, now."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValidationError(prefix, "expected an object")
    dotted = f"{prefix}." if prefix else ""
    reject_unknown(raw, SCHEDULE_FIELDS, dotted)

    run_at = now
    if raw.get("run_at") is not None:
        run_at = parse_time(raw["run_at"], f"{dotted}run_at")
        if run_at < now - MAX_PAST:
            raise ValidationError(
                f"{dotted}run_at", "is more than 5 minutes in the past (omit it to run now)"
            )

    given = [key for key in ("repeat", "interval_seconds", "cron") if raw.get(key) is not None]
    if len(given) > 1:
        raise ValidationError(
            f"{dotted}{given[1]}", "give only one of repeat, interval_seconds, cron"
        )

    repeat = raw.get("repeat")
    if repeat is not None and repeat not in REPEATS:
        raise ValidationError(f"{dotted}repeat", f"expected one of {', '.join(REPEATS)}")

    interval = None
    if raw.get("interval_seconds") is not None:
        interval = get_int(raw, "interval_seconds", 0, 1, 10 * 366 * 86400, dotted)

    cron = raw.get("cron")
    if cron is not None:
        if not isinstance(cron, str):
            raise ValidationError(f"{dotted}cron", "expected a string")
        try:
            validate_cron(cron)
        except ScheduleError as error:
            raise ValidationError(f"{dotted}cron", str(error)) from None

    zone = raw.get("timezone")
    if zone is None:
        zone = "UTC"
    if not isinstance(zone, str):
        raise ValidationError(f"{dotted}timezone", "expected an IANA time zone name")
    try:
        validate_timezone(zone)
    except ScheduleError as error:
        raise ValidationError(f"{dotted}timezone", str(error)) from None

    end_at = None
    if raw.get("end_at") is not None:
        end_at = parse_time(raw["end_at"], f"{dotted}end_at")
    max_runs = None
    if raw.get("max_runs") is not None:
        max_runs = get_int(raw, "max_runs", 1, 1, MAX_INT, dotted)

    schedule = Schedule(
        run_at=run_at,
        repeat=repeat,
        interval_seconds=interval,
        cron=cron,
        timezone=zone,
        end_at=end_at,
        max_runs=max_runs,
    )
    first = first_occurrence(schedule)
    if first is None:
        raise ValidationError(f"{dotted}end_at", "the schedule has no occurrence before end_at")
    return schedule, first


def parse_submit(
    raw: Any, now: datetime, *, is_admin: bool, shell_enabled: bool, prefix: str = ""
) -> JobSpec:
    """Validate a submit body. ``prefix`` names its place in a batch (``jobs[3].``)."""
    try:
        return _parse_submit(raw, now, is_admin=is_admin, shell_enabled=shell_enabled)
    except ValidationError as error:
        if not prefix:
            raise
        raise error.within(prefix) from None


def _parse_submit(raw: Any, now: datetime, *, is_admin: bool, shell_enabled: bool) -> JobSpec:
    body = require_body_object(raw)
    reject_unknown(body, SUBMIT_FIELDS)

    type_name = body.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise ValidationError("type", "required: one of " + ", ".join(sorted(jobtypes.REGISTRY)))
    job_type = jobtypes.REGISTRY.get(type_name)
    if job_type is None:
        raise ValidationError(
            "type",
            f"unknown job type {type_name[:64]!r}; expected one of "
            + ", ".join(sorted(jobtypes.REGISTRY)),
        )
    if job_type.name == "shell" and not shell_enabled:
        raise Forbidden("type: shell jobs are disabled on this server (CHRONOS_ENABLE_SHELL_JOBS)")
    if job_type.admin_only and not is_admin:
        raise Forbidden(f"type: only admins may submit {type_name} jobs")

    name = body.get("name")
    if name is None:
        name = type_name
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise ValidationError("name", "expected a string of 1 to 200 characters")

    raw_payload = body.get("payload")
    if raw_payload is None:
        raw_payload = {}
    if not isinstance(raw_payload, Mapping):
        raise ValidationError("payload", "expected an object")
    try:
        payload = job_type.validate(raw_payload)
    except ValidationError as error:
        raise error.within("payload") from None

    queue = body.get("queue")
    if queue is None:
        queue = "default"
    if not isinstance(queue, str) or not QUEUE_PATTERN.fullmatch(queue):
        raise ValidationError("queue", "expected 1 to 64 characters of a-z, 0-9, _ and -")

    schedule, first_due = parse_schedule(body.get("schedule"), now)
    return JobSpec(
        name=name,
        type=type_name,
        payload=payload,
        queue=queue,
        priority=get_int(body, "priority", 0, 0, 9),
        schedule=schedule,
        first_due=first_due,
        max_attempts=get_int(body, "max_attempts", 1, 1, 100),
        retry_backoff_seconds=get_int(body, "retry_backoff_seconds", 30, 0, 86400),
        timeout_seconds=get_int(body, "timeout_seconds", 3600, 1, 86400),
        misfire_policy=get_choice(body, "misfire_policy", list(MisfirePolicy), "run_once"),
        overlap_policy=get_choice(body, "overlap_policy", list(OverlapPolicy), "forbid"),
    )


def parse_username(value: Any, field: str = "username") -> str:
    if not isinstance(value, str) or not USERNAME_PATTERN.fullmatch(value):
        raise ValidationError(field, "expected 3 to 64 characters of A-Z, a-z, 0-9, _, . and -")
    return value


def parse_password(value: Any, field: str = "password") -> str:
    if not isinstance(value, str) or len(value) < 8:
        raise ValidationError(field, "expected a string of at least 8 characters")
    if len(value) > 1024:
        raise ValidationError(field, "at most 1024 characters")
    return value


def parse_email(value: Any, field: str = "email") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 320:
        raise ValidationError(field, "expected an email address")
    local, _, domain = value.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in value):
        raise ValidationError(field, "expected an email address")
    return value
