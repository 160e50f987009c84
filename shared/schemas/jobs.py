"""Jobs, schedules and runs: the submit body and the Job and Run it answers with.

The submit body is a union on ``type``: each registered job type contributes a variant
whose ``payload`` is that type's own model (:func:`submit_body`), so the document shows
every payload, operators' types included, and the API validates the one it got.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.config import JsonDict

from shared.recurrence import REPEATS
from shared.schemas.fields import (
    MAX_INT32,
    Closed,
    Id,
    NullMeansDefault,
    OptionalResponseTime,
    ResponseTime,
    Rule,
    choice,
    integer,
    invalid,
    json_object,
    request_time,
    text,
)
from shared.states import ErrorKind, JobStatus, MisfirePolicy, OverlapPolicy, RunState

QUEUE_PATTERN = r"^[a-z0-9_-]{1,64}$"
QUEUE_RULE = "expected 1 to 64 characters of a-z, 0-9, _ and -"
MAX_INTERVAL_SECONDS = 10 * 366 * 86400
MAX_BATCH = 1000
MAX_CRON_LENGTH = 256
MAX_ZONE_LENGTH = 64
RECURRENCE_FIELDS = ("repeat", "interval_seconds", "cron")

REPEAT_TEXT = (
    "Counted from `run_at`. `hourly` is every 3,600 seconds of real time; `daily`, `weekly` "
    "and `monthly` follow the wall clock in `timezone` (a monthly job on the 31st runs on "
    "the last day of shorter months)."
)
CRON_TEXT = (
    "A 5-field cron expression (minute hour day month weekday), read in `timezone`. A wall "
    "time the clock skips runs once, at the jump; one that happens twice runs once, the "
    "first time."
)
EXCLUSIVE_TEXT = "At most one of `repeat`, `interval_seconds` and `cron`; with none, it runs once."


def _not_both(first: str, second: str) -> JsonDict:
    """JSON Schema for "these two are not both given a non-null value"."""
    return {
        "not": {
            "required": [first, second],
            "properties": {first: {"not": {"type": "null"}}, second: {"not": {"type": "null"}}},
        }
    }


EXCLUSIVE_SCHEMA: JsonDict = {
    "allOf": [
        _not_both(a, b)
        for index, a in enumerate(RECURRENCE_FIELDS)
        for b in RECURRENCE_FIELDS[index + 1 :]
    ]
}


class ScheduleInput(NullMeansDefault):
    """A schedule; every field is optional and null means its default."""

    model_config = ConfigDict(json_schema_extra=EXCLUSIVE_SCHEMA)

    run_at: Annotated[Any, request_time()] = Field(
        None,
        description=(
            "When a one-off job runs; for a recurring job, the first occurrence, which "
            "anchors it. Omitted or null means now. More than 5 minutes in the past gets "
            "`400`. RFC 3339 with an offset (`Z` or `+HH:MM`); a time without an offset "
            "gets `400`, because Chronos does not guess time zones."
        ),
    )
    repeat: Annotated[str | None, choice(REPEATS, nullable=True)] = Field(
        None, description=REPEAT_TEXT
    )
    interval_seconds: Annotated[int | None, integer(1, MAX_INTERVAL_SECONDS, nullable=True)] = (
        Field(
            None,
            description=(
                "A fixed interval, counted from `run_at`, independent of the wall clock. A "
                "user who is not an admin may set no less than `CHRONOS_MIN_INTERVAL_SECONDS` "
                "(default 60; `400`), and no `cron` or `repeat` whose occurrences come closer."
            ),
        )
    )
    cron: Annotated[str | None, text(max_length=MAX_CRON_LENGTH, nullable=True)] = Field(
        None, description=CRON_TEXT, examples=["0 9 * * 1-5"]
    )
    timezone: Annotated[str, text(max_length=MAX_ZONE_LENGTH, nullable=True)] = Field(
        "UTC",
        description="An IANA time zone name; an unknown one gets `400`.",
        examples=["Europe/Berlin"],
    )
    end_at: Annotated[Any, request_time()] = Field(
        None, description="No occurrence after this time."
    )
    max_runs: Annotated[int | None, integer(1, MAX_INT32, nullable=True)] = Field(
        None, description="No more than this many occurrences."
    )


class SubmitFields(NullMeansDefault):
    """What every submit body has, whatever its type. Null fields take their defaults."""

    name: Annotated[
        str | None,
        text(
            min_length=1,
            max_length=200,
            message="expected a string of 1 to 200 characters",
            nullable=True,
        ),
    ] = Field(None, description="1 to 200 characters. Default: the type.")
    queue: Annotated[str, text(pattern=QUEUE_PATTERN, message=QUEUE_RULE, nullable=True)] = Field(
        "default",
        description=(
            "The RabbitMQ queue the runs are sent to: one of the deployment's queues "
            "(`CHRONOS_QUEUES`); any other gets `400`, which names the known ones."
        ),
    )
    priority: Annotated[int, integer(0, 9, nullable=True)] = Field(
        0,
        description=(
            "0 to 9, higher first. A user who is not an admin may set at most "
            "`CHRONOS_MAX_USER_PRIORITY` (default 5); above it gets `400`."
        ),
    )
    schedule: ScheduleInput | None = Field(
        None, description="When the job runs. Omitted or null: once, now."
    )
    max_attempts: Annotated[int, integer(1, 100, nullable=True)] = Field(
        1, description="A failed run is retried until this many attempts have been made."
    )
    retry_backoff_seconds: Annotated[int, integer(0, 86400, nullable=True)] = Field(
        30,
        description=(
            "The first retry waits this long, each later one twice as long as the one before, "
            "capped at 1 hour, with +-10% jitter."
        ),
    )
    timeout_seconds: Annotated[int, integer(1, 86400, nullable=True)] = Field(
        3600,
        description="A run that takes longer is stopped and fails with `error.kind: timeout`.",
    )
    misfire_policy: Annotated[str, choice(MisfirePolicy, nullable=True)] = Field(
        MisfirePolicy.RUN_ONCE.value,
        description=(
            "Missed occurrences: `run_once` runs them once, together; `skip` records them as "
            "skipped and goes on from now; `run_all` runs every one."
        ),
    )
    overlap_policy: Annotated[str, choice(OverlapPolicy, nullable=True)] = Field(
        OverlapPolicy.FORBID.value,
        description=(
            "An occurrence of a recurring job that comes due while an earlier run is queued or "
            "running: `allow` runs both; `forbid` records the new one as skipped; `replace` "
            "cancels the old run. Runs started by `trigger` are not subject to it."
        ),
    )


def submit_variant(type_name: str, payload: type[BaseModel] | None, admin_only: bool) -> Any:
    """The submit body of one job type: its ``type`` and its own ``payload`` model (a
    free-form object for a type registered with a plain validator function)."""
    payload_type: Any = Annotated[dict[str, Any] | None, json_object()]
    payload_field: Any = Field(None, description="The job type's payload. Default `{}`.")
    if payload is not None:
        payload_type = payload | None
        if any(field.is_required() for field in payload.model_fields.values()):
            # A payload with required fields cannot be left out.
            payload_type = payload
            payload_field = Field(description="The job type's payload.")
    return create_model(
        f"Submit_{type_name}",
        __base__=SubmitFields,
        __doc__=f"A `{type_name}` job." + (" Admins only." if admin_only else ""),
        type=(Literal[type_name], Field(description="The job type.")),  # type: ignore[arg-type]
        payload=(payload_type, payload_field),
    )


# The submit body is a union built from the registry at run time (``submit_variant``),
# so the batch refers to it by its name in the document's components.
SUBMIT_BODY = "SubmitBody"


def _submit_bodies(value: Any) -> list[Any]:
    # Each item is validated as a submit body of its own, so that its errors are named
    # ``jobs[17].schedule.cron`` and the type decides its payload's model.
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
        raise invalid(f"expected a list of 1 to {MAX_BATCH} jobs")
    return value


class BatchBody(Closed):
    """1 to 1000 jobs. All are created, or none is: the `400` names the index at fault,
    e.g. `jobs[17].schedule.cron: ...`."""

    jobs: Annotated[
        list[Any],
        Rule(
            _submit_bodies,
            {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{SUBMIT_BODY}"},
                "minItems": 1,
                "maxItems": MAX_BATCH,
            },
            nullable=False,
        ),
    ]


class RunError(BaseModel):
    kind: Annotated[str, choice(ErrorKind)] = Field(
        description="`http_status`: an `http` job's target answered with a non-2xx status. "
        "`crashed`: the handler's process died (a custom type that exited or was killed)."
    )
    message: str = Field(description="What went wrong.")


class Run(BaseModel):
    """One attempt at one occurrence of a job, or one manual trigger."""

    id: Id
    job_id: Id = Field(description="The job it belongs to.")
    attempt: int = Field(ge=1, description="1 for the first attempt, then 2, 3, ... for retries.")
    scheduled_for: ResponseTime = Field(
        description="The occurrence the run belongs to; every retry of it has the same value."
    )
    state: Annotated[str, choice(RunState)] = Field(
        description=(
            "`lost`: its worker stopped sending heartbeats; it counts as a failed attempt and is "
            "retried while attempts remain. `skipped`: never started, on purpose (overlap or "
            "misfire policy)."
        )
    )
    queued_at: OptionalResponseTime = Field(description="When a scheduler claimed it.")
    started_at: OptionalResponseTime = Field(description="When a worker started it.")
    finished_at: OptionalResponseTime = Field(description="When it ended.")
    worker: str | None = Field(description="The worker that ran it, `host:pid`.")
    result: dict[str, Any] | None = Field(
        description=(
            "What the handler returned (free-form), e.g. `{status_code, body}` for `http` or "
            "`{exit_code, stdout, stderr}` for `shell`; a skipped run's reason is in `skipped`."
        )
    )
    error: RunError | None = Field(description="Why the run failed, if it did.")


class Schedule(BaseModel):
    """A job's schedule, with every default filled in."""

    run_at: ResponseTime = Field(description="The first (or only) occurrence.")
    repeat: Annotated[str | None, choice(REPEATS, nullable=True)] = Field(description=REPEAT_TEXT)
    interval_seconds: int | None = Field(ge=1)
    cron: str | None = Field(description=CRON_TEXT)
    timezone: str = Field(description="The IANA time zone the schedule is read in.")
    end_at: OptionalResponseTime = Field(description="No occurrence after this time.")
    max_runs: int | None = Field(ge=1, description="No more than this many occurrences.")


class Job(BaseModel):
    """A job: what was submitted, and where its runs stand."""

    id: Id
    owner_id: Id = Field(description="The user who submitted it.")
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(description="The job type.")
    payload: dict[str, Any] = Field(description="The payload, as checked by its type.")
    queue: str = Field(pattern=QUEUE_PATTERN)
    priority: int = Field(ge=0, le=9)
    schedule: Schedule
    recurring: bool = Field(
        description="Whether the schedule has `repeat`, `interval_seconds` or `cron`."
    )
    status: Annotated[str, choice(JobStatus)] = Field(
        description=(
            "A one-off job ends `succeeded`, `failed` (its last attempt failed) or `cancelled`. "
            "A recurring job goes back to `scheduled` after each run, and is `succeeded` once "
            "its schedule is exhausted (`end_at` or `max_runs`)."
        )
    )
    next_run_at: OptionalResponseTime = Field(
        description="When the next run is due; null when none is (finished, cancelled, or paused)."
    )
    last_run: Run | None = Field(
        description="The newest run that has left `pending`, or null if none has yet."
    )
    run_count: int = Field(
        ge=0,
        description=(
            "Occurrences of the schedule dispatched so far; retries and manual triggers are not "
            "counted. `max_runs` is compared with it."
        ),
    )
    max_attempts: int = Field(ge=1, le=100)
    retry_backoff_seconds: int = Field(ge=0)
    timeout_seconds: int = Field(ge=1, le=86400)
    misfire_policy: Annotated[str, choice(MisfirePolicy)]
    overlap_policy: Annotated[str, choice(OverlapPolicy)]
    created_at: ResponseTime = Field(description="When the job was submitted.")
    updated_at: ResponseTime = Field(description="When the job was last changed.")


PAGING_TEXT = (
    "Newest first. `next_cursor` is an opaque string to pass as `cursor` for the next page, "
    "and `null` on the last page."
)


class JobPage(BaseModel):
    __doc__ = PAGING_TEXT
    items: list[Job] = Field(max_length=200)
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last."
    )


class RunPage(BaseModel):
    __doc__ = PAGING_TEXT
    items: list[Run] = Field(max_length=200)
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last."
    )


class JobBatch(BaseModel):
    """The jobs a batch created, in the order they were given."""

    items: list[Job]


class Upcoming(BaseModel):
    items: list[ResponseTime] = Field(
        max_length=100,
        description=(
            "The next occurrence times, as the scheduler will compute them. Empty for a "
            "finished or cancelled job."
        ),
    )
