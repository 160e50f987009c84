"""The OpenAPI 3.1 document of the Chronos HTTP API, served at ``GET /openapi.json``.

It follows ``API.md`` (the contract) and writes down the choices the contract leaves
open. It is built from plain dicts by small helpers, so each route reads as one short
entry: its parameters, its body and the statuses it can answer with.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
DEFAULT_MAX_BODY_BYTES = 256 * 1024

JOB_STATUSES = ["scheduled", "queued", "running", "paused", "succeeded", "failed", "cancelled"]
RUN_STATES = [
    "pending",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "skipped",
    "lost",
]
ERROR_KINDS = ["exception", "timeout", "cancelled", "lost", "http_status"]
MISFIRE_POLICIES = ["run_once", "skip", "run_all"]
OVERLAP_POLICIES = ["allow", "forbid", "replace"]
REPEATS = ["hourly", "daily", "weekly", "monthly"]
ROLES = ["user", "admin"]
BUILTIN_JOB_TYPES = ["http", "email", "shell", "sleep", "noop", "fail"]

QUEUE_PATTERN = "^[a-z0-9_-]{1,64}$"
USERNAME_PATTERN = "^[A-Za-z0-9_.-]{3,64}$"
# An email address as the server checks it: no white space (as Python's str.isspace sees
# it), an `@`, and a dot in the domain after the last `@`.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = rf"^[^{_SPACE}]+@[^{_SPACE}@]*\.[^{_SPACE}@]*$"
# What every response time looks like: UTC, a Z and exactly three fractional digits.
RESPONSE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
MAX_INT32 = 2**31 - 1
MAX_INTERVAL_SECONDS = 10 * 366 * 86400

BEARER = "bearerAuth"

TYPE_DESCRIPTION = (
    "The job type, which decides what the run does and how `payload` is checked. Built-in "
    "types: " + ", ".join(f"`{name}`" for name in BUILTIN_JOB_TYPES) + ". Operators may "
    "register more types (`CHRONOS_JOB_MODULES`), so this is not a closed list: an "
    "unregistered type gets `400`. `shell` is admin-only and needs "
    "`CHRONOS_ENABLE_SHELL_JOBS=true`; otherwise it gets `403`."
)
PAYLOAD_DESCRIPTION = (
    "A free-form object, checked by the job type's own validator at submit time (unknown "
    "fields get `400`, named `payload.<field>`). Built-in payloads: `http`: `url` (http or "
    "https, required), `method` (default `POST`), `headers`, `json` or `body`, "
    "`timeout_seconds` (default 30); `email`: `to` (a list), `subject`, `body`, `from`; "
    "`shell`: `argv` (a list of strings), `env`, `cwd`; `sleep`: `seconds` (0-86400); "
    "`noop`: `{}`; `fail`: `message`."
)
PAGING_DESCRIPTION = (
    "Newest first. `next_cursor` is an opaque string to pass as `cursor` for the next "
    "page, and `null` on the last page."
)


# Schema helpers.


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable_ref(name: str, description: str) -> Schema:
    return {"anyOf": [ref(name), {"type": "null"}], "description": description}


def obj(
    properties: dict[str, Schema],
    *,
    required: list[str] | tuple[str, ...] = (),
    all_required: bool = False,
    closed: bool = False,
    description: str | None = None,
) -> Schema:
    """An object schema. ``all_required``: every property is always present (responses).
    ``closed`` (request bodies only) rejects unknown fields, as the server does with a
    `400`; responses stay open so that fields added later are not a breaking change."""
    schema: Schema = {"type": "object", "properties": properties}
    if all_required:
        required = list(properties)
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def string(description: str | None = None, *, nullable: bool = False, **limits: Any) -> Schema:
    schema: Schema = {"type": ["string", "null"] if nullable else "string", **limits}
    if description:
        schema["description"] = description
    return schema


def integer(description: str | None = None, *, nullable: bool = False, **limits: Any) -> Schema:
    schema: Schema = {"type": ["integer", "null"] if nullable else "integer", **limits}
    if description:
        schema["description"] = description
    return schema


def enum(values: list[str], description: str | None = None, *, nullable: bool = False) -> Schema:
    schema: Schema = {
        "type": ["string", "null"] if nullable else "string",
        "enum": [*values, None] if nullable else list(values),
    }
    if description:
        schema["description"] = description
    return schema


def uuid_string(description: str) -> Schema:
    return string(description, format="uuid")


def response_time(description: str, *, nullable: bool = False) -> Schema:
    """A time in a response: RFC 3339, always UTC with a Z and milliseconds."""
    text = f"{description} RFC 3339, always UTC with a `Z` and millisecond precision."
    schema = string(text, nullable=nullable, format="date-time")
    schema["pattern"] = RESPONSE_TIME_PATTERN
    schema["examples"] = ["2026-12-01T08:00:00.000Z"]
    return schema


def request_time(description: str) -> Schema:
    """A time in a request: RFC 3339 with an offset; null means the default."""
    text = (
        f"{description} RFC 3339 with an offset (`Z` or `+HH:MM`); a time without an offset "
        "gets `400`, because Chronos does not guess time zones."
    )
    return string(text, nullable=True, format="date-time", maxLength=64)


def not_both(first: str, second: str) -> Schema:
    """Forbids giving both fields a non-null value."""
    return {
        "not": {
            "required": [first, second],
            "properties": {first: {"not": {"type": "null"}}, second: {"not": {"type": "null"}}},
        }
    }


# Component schemas.


def error_schema() -> Schema:
    return obj(
        {
            "title": string("A short summary of the kind of error.", examples=["Invalid input"]),
            "description": string(
                "What went wrong, naming the field at fault.",
                examples=["schedule.cron: expected 5 fields, got 3"],
            ),
        },
        required=["title", "description"],
        description="Every error body. `description` names the field at fault.",
    )


def user_schemas() -> dict[str, Schema]:
    username = string(
        "3 to 64 characters of A-Z, a-z, 0-9, `_`, `.` and `-`.",
        pattern=USERNAME_PATTERN,
        minLength=3,
        maxLength=64,
    )
    password = string(
        "At least 8 characters. It is hashed (argon2id) and never returned or logged.",
        minLength=8,
        maxLength=1024,
    )
    email = string(
        "An email address (a dot in its domain, no white space), or null for none.",
        nullable=True,
        maxLength=320,
        pattern=EMAIL_PATTERN,
    )
    return {
        "User": obj(
            {
                "id": uuid_string("The user's id."),
                "username": string(pattern=USERNAME_PATTERN),
                "email": string("The user's email address, if any.", nullable=True),
                "role": enum(ROLES, "`admin` may see and change every user and job."),
                "created_at": response_time("When the user was created."),
                "updated_at": response_time("When the user was last changed."),
            },
            required=["id", "username", "email", "role", "created_at", "updated_at"],
            description="A user. A password or its hash never appears in a response.",
        ),
        "UserCreate": obj(
            {"username": username, "password": password, "email": email},
            required=["username", "password"],
            closed=True,
        ),
        "UserUpdate": obj(
            {
                "username": username,
                "email": email,
                "password": {**password, "description": "A new password; it is hashed again."},
                "role": enum(ROLES, "Only an admin may set `role`; anyone else gets `403`."),
            },
            closed=True,
            description="Any of the fields; those omitted are left as they are.",
        ),
        "UserCreated": obj(
            {"user": ref("User"), "token": string("A bearer token (JWT) for the new user.")},
            required=["user", "token"],
        ),
        "Credentials": obj(
            {"username": string(minLength=1), "password": string(minLength=1)},
            required=["username", "password"],
            closed=True,
        ),
        "TokenResponse": obj(
            {
                "access_token": string(
                    "A JWT (HS256) carrying `sub` (the user id), `role`, `iat` and `exp`. "
                    "Send it as `Authorization: Bearer <token>`."
                ),
                "token_type": enum(["bearer"]),
                "expires_in": integer("Seconds until the token expires.", minimum=0),
            },
            required=["access_token", "token_type", "expires_in"],
        ),
    }


def schedule_schemas() -> dict[str, Schema]:
    repeat = (
        "Counted from `run_at`. `hourly` is every 3,600 seconds of real time; `daily`, "
        "`weekly` and `monthly` follow the wall clock in `timezone` (a monthly job on the "
        "31st runs on the last day of shorter months)."
    )
    cron = (
        "A 5-field cron expression (minute hour day month weekday), read in `timezone`. A "
        "wall time the clock skips runs once, at the jump; one that happens twice runs "
        "once, the first time."
    )
    exclusive = "At most one of `repeat`, `interval_seconds` and `cron`; with none, it runs once."
    schedule_input = obj(
        {
            "run_at": request_time(
                "When a one-off job runs; for a recurring job, the first occurrence, which "
                "anchors it. Omitted or null means now. More than 5 minutes in the past gets "
                "`400`."
            ),
            "repeat": enum(REPEATS, repeat, nullable=True),
            "interval_seconds": integer(
                "A fixed interval, counted from `run_at`, independent of the wall clock.",
                nullable=True,
                minimum=1,
                maximum=MAX_INTERVAL_SECONDS,
            ),
            "cron": string(cron, nullable=True, examples=["0 9 * * 1-5"]),
            "timezone": string(
                "An IANA time zone name; an unknown one gets `400`. Default `UTC`.",
                nullable=True,
                examples=["Europe/Berlin"],
            ),
            "end_at": request_time("No occurrence after this time."),
            "max_runs": integer(
                "No more than this many occurrences.", nullable=True, minimum=1, maximum=MAX_INT32
            ),
        },
        closed=True,
        description=f"A schedule; every field is optional and null means its default. {exclusive}",
    )
    schedule_input["allOf"] = [
        not_both("repeat", "interval_seconds"),
        not_both("repeat", "cron"),
        not_both("interval_seconds", "cron"),
    ]
    schedule = obj(
        {
            "run_at": response_time("The first (or only) occurrence."),
            "repeat": enum(REPEATS, repeat, nullable=True),
            "interval_seconds": integer(nullable=True, minimum=1),
            "cron": string(cron, nullable=True),
            "timezone": string("The IANA time zone the schedule is read in."),
            "end_at": response_time("No occurrence after this time.", nullable=True),
            "max_runs": integer("No more than this many occurrences.", nullable=True, minimum=1),
        },
        all_required=True,
        description=f"A job's schedule, with every default filled in. {exclusive}",
    )
    reschedule = {
        **ref("ScheduleInput"),
        "description": (
            "The new schedule; it replaces the old one whole. The shorthand "
            '`{"run_at": ...}` alone moves a one-off job, and moves a recurring job\'s anchor '
            "while keeping its cadence (repeat, interval or cron, time zone, end_at, max_runs); "
            "send the recurrence fields as null to make a recurring job one-off. "
            "A one-off job that finished or was cancelled is scheduled to run again. "
            "A one-off job with a run queued or running gets `409`; for a recurring job only "
            "future occurrences change. A paused job stays paused."
        ),
    }
    return {"ScheduleInput": schedule_input, "Schedule": schedule, "RescheduleBody": reschedule}


def job_schemas(max_body_bytes: int) -> dict[str, Schema]:
    submit = obj(
        {
            "name": string(
                "1 to 200 characters. Default: the type.", nullable=True, minLength=1, maxLength=200
            ),
            "type": string(TYPE_DESCRIPTION, minLength=1, examples=BUILTIN_JOB_TYPES),
            "payload": {
                "type": ["object", "null"],
                "description": f"{PAYLOAD_DESCRIPTION} Default `{{}}`.",
            },
            "queue": string(
                "The RabbitMQ queue the runs are sent to. Default `default`.",
                nullable=True,
                pattern=QUEUE_PATTERN,
            ),
            "priority": integer(
                "0 to 9, higher first. Default 0.", nullable=True, minimum=0, maximum=9
            ),
            "schedule": nullable_ref(
                "ScheduleInput", "When the job runs. Omitted or null: once, now."
            ),
            "max_attempts": integer(
                "A failed run is retried until this many attempts have been made. Default 1.",
                nullable=True,
                minimum=1,
                maximum=100,
            ),
            "retry_backoff_seconds": integer(
                "The first retry waits this long, each later one twice as long as the one "
                "before, capped at 1 hour, with +-10% jitter. Default 30.",
                nullable=True,
                minimum=0,
                maximum=86400,
            ),
            "timeout_seconds": integer(
                "A run that takes longer is stopped and fails with `error.kind: timeout`. "
                "Default 3600.",
                nullable=True,
                minimum=1,
                maximum=86400,
            ),
            "misfire_policy": enum(
                MISFIRE_POLICIES,
                "Missed occurrences: `run_once` runs them once, together; `skip` records "
                "them as skipped and goes on from now; `run_all` runs every one. Default "
                "`run_once`.",
                nullable=True,
            ),
            "overlap_policy": enum(
                OVERLAP_POLICIES,
                "An occurrence of a recurring job that comes due while an earlier run is "
                "queued or running: `allow` runs both; `forbid` records the new one as "
                "skipped; `replace` cancels the old run. Default `forbid`. Runs started by "
                "`trigger` are not subject to it.",
                nullable=True,
            ),
        },
        required=["type"],
        closed=True,
        description="A job to submit. Null fields take their defaults; unknown fields get `400`.",
    )
    batch = obj(
        {
            "jobs": {
                "type": "array",
                "items": ref("SubmitBody"),
                "minItems": 1,
                "maxItems": 1000,
                "description": (
                    "1 to 1000 submit bodies. All are created, or none is: the `400` names "
                    "the index at fault, e.g. `jobs[17].schedule.cron: ...`. The whole body "
                    f"is still limited to {max_body_bytes} bytes."
                ),
            }
        },
        required=["jobs"],
        closed=True,
    )
    run_error = obj(
        {
            "kind": enum(
                ERROR_KINDS,
                "`http_status`: an `http` job's target answered with a non-2xx status.",
            ),
            "message": string("What went wrong."),
        },
        required=["kind", "message"],
    )
    run = obj(
        {
            "id": uuid_string("The run's id."),
            "job_id": uuid_string("The job it belongs to."),
            "attempt": integer("1 for the first attempt, then 2, 3, ... for retries.", minimum=1),
            "scheduled_for": response_time(
                "The occurrence the run belongs to; every retry of it has the same value."
            ),
            "state": enum(
                RUN_STATES,
                "`lost`: its worker stopped sending heartbeats; it counts as a failed attempt "
                "and is retried while attempts remain. `skipped`: never started, on purpose "
                "(overlap or misfire policy).",
            ),
            "queued_at": response_time("When a scheduler claimed it.", nullable=True),
            "started_at": response_time("When a worker started it.", nullable=True),
            "finished_at": response_time("When it ended.", nullable=True),
            "worker": string("The worker that ran it, `host:pid`.", nullable=True),
            "result": {
                "type": ["object", "null"],
                "description": (
                    "What the handler returned (free-form), e.g. `{status_code, body}` for "
                    "`http` or `{exit_code, stdout, stderr}` for `shell`."
                ),
            },
            "error": nullable_ref("RunError", "Why the run failed, if it did."),
        },
        all_required=True,
        description="One attempt at one occurrence of a job, or one manual trigger.",
    )
    job = obj(
        {
            "id": uuid_string("The job's id."),
            "owner_id": uuid_string("The user who submitted it."),
            "name": string(minLength=1, maxLength=200),
            "type": string(TYPE_DESCRIPTION),
            "payload": {"type": "object", "description": "The payload, as checked by its type."},
            "queue": string(pattern=QUEUE_PATTERN),
            "priority": integer(minimum=0, maximum=9),
            "schedule": ref("Schedule"),
            "recurring": {
                "type": "boolean",
                "description": "Whether the schedule has `repeat`, `interval_seconds` or `cron`.",
            },
            "status": enum(
                JOB_STATUSES,
                "A one-off job ends `succeeded`, `failed` (its last attempt failed) or "
                "`cancelled`. A recurring job goes back to `scheduled` after each run, and is "
                "`succeeded` once its schedule is exhausted (`end_at` or `max_runs`).",
            ),
            "next_run_at": response_time(
                "When the next run is due; null when none is (finished, cancelled, or paused).",
                nullable=True,
            ),
            "last_run": nullable_ref(
                "Run", "The newest run that has left `pending`, or null if none has yet."
            ),
            "run_count": integer(
                "Occurrences of the schedule dispatched so far; retries and manual triggers "
                "are not counted. `max_runs` is compared with it.",
                minimum=0,
            ),
            "max_attempts": integer(minimum=1, maximum=100),
            "retry_backoff_seconds": integer(minimum=0),
            "timeout_seconds": integer(minimum=1, maximum=86400),
            "misfire_policy": enum(MISFIRE_POLICIES),
            "overlap_policy": enum(OVERLAP_POLICIES),
            "created_at": response_time("When the job was submitted."),
            "updated_at": response_time("When the job was last changed."),
        },
        all_required=True,
    )
    return {
        "SubmitBody": submit,
        "BatchBody": batch,
        "Job": job,
        "Run": run,
        "RunError": run_error,
        "JobPage": page_schema("Job"),
        "RunPage": page_schema("Run"),
        "JobBatch": obj(
            {"items": {"type": "array", "items": ref("Job")}},
            required=["items"],
            description="The jobs a batch created, in the order they were given.",
        ),
        "Upcoming": obj(
            {
                "items": {
                    "type": "array",
                    "items": response_time("An occurrence time."),
                    "maxItems": 100,
                    "description": (
                        "The next occurrence times, as the scheduler will compute them. Empty "
                        "for a finished or cancelled job."
                    ),
                }
            },
            required=["items"],
        ),
    }


def page_schema(item: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item), "maxItems": 200},
            "next_cursor": string(
                "Pass as `cursor` for the next page; null on the last.", nullable=True
            ),
        },
        required=["items", "next_cursor"],
        description=PAGING_DESCRIPTION,
    )


def components(max_body_bytes: int) -> Schema:
    schemas: dict[str, Schema] = {"Error": error_schema()}
    schemas.update(user_schemas())
    schemas.update(schedule_schemas())
    schemas.update(job_schemas(max_body_bytes))
    schemas["HealthStatus"] = obj(
        {"status": enum(["ok"])}, required=["status"], description="The process is up (or ready)."
    )
    return {
        "schemas": schemas,
        "securitySchemes": {
            BEARER: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    "`Authorization: Bearer <JWT>`, from `POST /auth/token` or "
                    "`POST /users/create`. HS256 only; a missing, bad or expired token gets "
                    "`401` with `WWW-Authenticate: Bearer`."
                ),
            }
        },
        "headers": {
            "WWW-Authenticate": {
                "description": "The authentication scheme to use: `Bearer`.",
                "required": True,
                "schema": string(examples=["Bearer"]),
            },
            "Retry-After": {
                "description": "How many seconds to wait before trying again.",
                "required": True,
                "schema": string(examples=["30"]),
            },
        },
    }


# Parameters.


def path_id(name: str, what: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id. A malformed id gets `404`.",
        "schema": {"type": "string", "format": "uuid"},
    }


def query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def paging_parameters() -> list[Schema]:
    return [
        query(
            "limit",
            "At most this many items per page (1 to 200, default 50); out of range gets `400`.",
            integer(minimum=1, maximum=200, default=50),
        ),
        query(
            "cursor",
            "The `next_cursor` of the previous page. One this API did not issue gets `400`.",
            string(),
        ),
    ]


def job_filters() -> list[Schema]:
    return [
        query(
            "status",
            "Only jobs with this status; any other value gets `400`.",
            enum(JOB_STATUSES),
        ),
        query(
            "type",
            "Only jobs of exactly this type (at most 200 characters, else `400`). Any string "
            "is accepted: a type no job has gives an empty page.",
            string(maxLength=200),
        ),
        query(
            "queue",
            "Only jobs sent to exactly this queue (at most 200 characters, else `400`). Any "
            "string is accepted: a queue no job uses gives an empty page.",
            string(maxLength=200),
        ),
        query(
            "name",
            "Only jobs with exactly this name (at most 200 characters, else `400`).",
            string(maxLength=200),
        ),
    ]


def idempotency_key() -> Schema:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "1 to 255 characters, scoped to the user. A repeat of the same request under the same "
            "key returns `200` with the job created the first time, instead of creating another; "
            "the same key with a different body gets `409`."
        ),
        "schema": string(minLength=1, maxLength=255),
    }


# Responses.


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema_name: str, links: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": json_content(ref(schema_name))}
    if links:
        response["links"] = links
    return response


JOB_OPERATIONS = [
    "getJob",
    "cancelJob",
    "rescheduleJob",
    "listRuns",
    "pauseJob",
    "resumeJob",
    "triggerJob",
    "upcomingRuns",
]
USER_OPERATIONS = ["getUser", "updateUser", "deleteUser"]


def links_to(operation_ids: list[str], parameter: str, expression: str) -> Schema:
    """Links from a response that creates a resource to the operations on it."""
    return {
        operation_id[0].upper() + operation_id[1:]: {
            "operationId": operation_id,
            "parameters": {parameter: expression},
        }
        for operation_id in operation_ids
    }


def error(description: str, *headers: str) -> Schema:
    response: Schema = {"description": description, "content": json_content(ref("Error"))}
    if headers:
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return response


def unauthorized() -> Schema:
    return error(
        "No bearer token, or a bad or expired one, or its user no longer exists.",
        "WWW-Authenticate",
    )


def body_errors(max_body_bytes: int, invalid: str) -> dict[str, Schema]:
    """The statuses every route that reads a JSON body can answer with."""
    return {
        "400": error(
            "The body is not valid JSON, or not a JSON object, or a field is invalid or "
            f"unknown ({invalid}). The description names the field at fault."
        ),
        "413": error(
            f"The body is larger than {max_body_bytes} bytes (the configured limit, "
            "256 KiB by default)."
        ),
        "415": error("The Content-Type is not JSON (`application/json` or a `+json` type)."),
    }


def not_found(what: str) -> Schema:
    return error(
        f"No such {what}, or it is another user's (existence is never revealed), or the id "
        "is not a UUID."
    )


def json_body(schema_name: str, description: str) -> Schema:
    return {"required": True, "description": description, "content": json_content(ref(schema_name))}


def database_unavailable() -> Schema:
    response = error(
        "PostgreSQL is unreachable for a moment (a restart, a failover); retry after "
        "`Retry-After` seconds. Nothing was written."
    )
    response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return response


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    description: str | None = None,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    auth: bool = True,
    database: bool = True,
) -> Schema:
    op: Schema = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    if auth:
        responses = {**responses, "401": unauthorized()}
    if database and "503" not in responses:
        responses = {**responses, "503": database_unavailable()}
    op["responses"] = dict(sorted(responses.items()))
    # No security requirement at the top level: each operation states its own, and the
    # public ones an empty list.
    op["security"] = [{BEARER: []}] if auth else []
    return op


# Routes.


def user_paths(max_body_bytes: int) -> dict[str, Schema]:
    return {
        "/users/create": {
            "post": operation(
                "createUser",
                "users",
                "Create a user",
                {
                    "201": ok(
                        "The user was created; `token` is a bearer token for it.",
                        "UserCreated",
                        links_to(USER_OPERATIONS, "user_id", "$response.body#/user/id"),
                    ),
                    **body_errors(max_body_bytes, "username, password or email"),
                    "401": error(
                        "Registration is closed (`CHRONOS_OPEN_REGISTRATION=false`) and the "
                        "request carries no bearer token, or a bad or expired one.",
                        "WWW-Authenticate",
                    ),
                    "403": error(
                        "Registration is closed (`CHRONOS_OPEN_REGISTRATION=false`) and the "
                        "token is not an admin's."
                    ),
                    "409": error("The username is taken."),
                },
                description=(
                    "Open to anyone by default. With `CHRONOS_OPEN_REGISTRATION=false` only an "
                    "admin may create users, by sending their token as "
                    "`Authorization: Bearer <JWT>`."
                ),
                body=json_body("UserCreate", "The new user."),
                auth=False,
            )
        },
        "/auth/token": {
            "post": operation(
                "issueToken",
                "auth",
                "Get a bearer token",
                {
                    "200": ok("A bearer token.", "TokenResponse"),
                    **body_errors(max_body_bytes, "username or password missing"),
                    "401": error(
                        "Wrong credentials: the same answer for an unknown user and a wrong "
                        "password.",
                        "WWW-Authenticate",
                    ),
                    "429": error(
                        "Too many attempts; wait for `Retry-After` seconds.", "Retry-After"
                    ),
                },
                body=json_body("Credentials", "The user's username and password."),
                auth=False,
            )
        },
        "/users/{user_id}": {
            "get": operation(
                "getUser",
                "users",
                "Get a user (that user, or an admin)",
                {"200": ok("The user.", "User"), "404": not_found("user")},
                parameters=[path_id("user_id", "user")],
            )
        },
        "/users/{user_id}/update": {
            "put": operation(
                "updateUser",
                "users",
                "Change a user (that user, or an admin)",
                {
                    "200": ok("The user, changed.", "User"),
                    **body_errors(max_body_bytes, "username, email, password or role"),
                    "403": error("A user who is not an admin tried to set `role`."),
                    "404": not_found("user"),
                    "409": error("The new username is taken."),
                },
                description="A new password is hashed again. Only an admin may set `role`.",
                parameters=[path_id("user_id", "user")],
                body=json_body("UserUpdate", "The fields to change."),
            )
        },
        "/users/{user_id}/delete": {
            "delete": operation(
                "deleteUser",
                "users",
                "Delete a user (that user, or an admin)",
                {
                    "204": {"description": "The user, their jobs and their runs are deleted."},
                    "404": not_found("user"),
                },
                description=(
                    "Cancels all of the user's jobs (running runs are interrupted), then "
                    "deletes the user, their jobs and their runs."
                ),
                parameters=[path_id("user_id", "user")],
            )
        },
    }


def job_paths(max_body_bytes: int) -> dict[str, Schema]:
    return {
        "/jobs/submit": {
            "post": operation(
                "submitJob",
                "jobs",
                "Submit a job",
                {
                    "201": ok(
                        "The job was created.",
                        "Job",
                        links_to(JOB_OPERATIONS, "job_id", "$response.body#/id"),
                    ),
                    "200": ok(
                        "A repeat of an earlier request under the same `Idempotency-Key`: the "
                        "job it created, unchanged.",
                        "Job",
                    ),
                    **body_errors(
                        max_body_bytes,
                        "for example an unknown type, a bad payload, schedule or limit, or an "
                        "`Idempotency-Key` longer than 255 characters",
                    ),
                    "403": error(
                        "A `shell` job from a user who is not an admin, or while shell jobs "
                        "are disabled (`CHRONOS_ENABLE_SHELL_JOBS`)."
                    ),
                    "409": error("The `Idempotency-Key` was already used for a different request."),
                },
                parameters=[idempotency_key()],
                body=json_body("SubmitBody", "The job."),
            )
        },
        "/jobs/batch": {
            "post": operation(
                "submitBatch",
                "jobs",
                "Submit 1 to 1000 jobs at once",
                {
                    "201": ok(
                        "Every job was created.",
                        "JobBatch",
                        links_to(JOB_OPERATIONS, "job_id", "$response.body#/items/0/id"),
                    ),
                    **body_errors(
                        max_body_bytes,
                        "no job was created; the description names the index at fault, e.g. "
                        "`jobs[17].schedule.cron: ...`",
                    ),
                    "403": error(
                        "A `shell` job from a user who is not an admin, or while shell jobs "
                        "are disabled; no job was created."
                    ),
                },
                description="All of the jobs are valid and created, or none is.",
                body=json_body("BatchBody", "The jobs."),
            )
        },
        "/jobs": {
            "get": operation(
                "listJobs",
                "jobs",
                "List jobs",
                {
                    "200": ok("A page of jobs, newest first.", "JobPage"),
                    "400": error("A bad filter, `limit` or `cursor`."),
                },
                description=(
                    "The caller's jobs (an admin sees everyone's), newest first. "
                    + PAGING_DESCRIPTION
                ),
                parameters=[*job_filters(), *paging_parameters()],
            )
        },
        "/jobs/{job_id}": {
            "get": operation(
                "getJob",
                "jobs",
                "Get a job",
                {"200": ok("The job.", "Job"), "404": not_found("job")},
                parameters=[path_id("job_id", "job")],
            ),
            "delete": operation(
                "cancelJob",
                "jobs",
                "Cancel a job",
                {
                    "200": ok("The job, with `status: cancelled`.", "Job"),
                    "404": not_found("job"),
                    "409": error(
                        "The job already finished (`succeeded` or `failed`): nothing to cancel."
                    ),
                },
                description=(
                    "Its pending and queued runs are cancelled and a running run is "
                    "interrupted. Cancelling a cancelled job returns `200` again (idempotent). "
                    "The job is kept, so it can be rescheduled."
                ),
                parameters=[path_id("job_id", "job")],
            ),
        },
        "/jobs/{job_id}/reschedule": {
            "put": operation(
                "rescheduleJob",
                "jobs",
                "Replace a job's schedule",
                {
                    "200": ok("The job, with its new schedule and `next_run_at`.", "Job"),
                    **body_errors(
                        max_body_bytes,
                        "for example a bad schedule, or `max_runs` not above the job's `run_count`",
                    ),
                    "404": not_found("job"),
                    "409": error(
                        "A one-off job has a run queued or running, or already has a run for "
                        "that occurrence."
                    ),
                },
                description=(
                    "Replaces the schedule and recomputes `next_run_at`. A one-off job that "
                    "finished or was cancelled is scheduled to run again. For a recurring job "
                    "with a run queued or running, only future occurrences change. A paused "
                    "job stays paused."
                ),
                parameters=[path_id("job_id", "job")],
                body=json_body("RescheduleBody", "The new schedule."),
            )
        },
        "/jobs/{job_id}/runs": {
            "get": operation(
                "listRuns",
                "jobs",
                "A job's run history",
                {
                    "200": ok("A page of runs, newest first.", "RunPage"),
                    "400": error("A bad `limit` or `cursor`."),
                    "404": not_found("job"),
                },
                description=f"Every attempt of every occurrence, and manual triggers. "
                f"{PAGING_DESCRIPTION}",
                parameters=[path_id("job_id", "job"), *paging_parameters()],
            )
        },
        "/jobs/{job_id}/pause": {
            "post": operation(
                "pauseJob",
                "jobs",
                "Pause a job",
                {
                    "200": ok("The job, `paused`.", "Job"),
                    "404": not_found("job"),
                    "409": error("The job is `succeeded`, `failed` or `cancelled`."),
                },
                description=(
                    "Holds the job's pending runs: no new run starts. A run already queued or "
                    "running goes on. Pausing a paused job is a no-op `200`."
                ),
                parameters=[path_id("job_id", "job")],
            )
        },
        "/jobs/{job_id}/resume": {
            "post": operation(
                "resumeJob",
                "jobs",
                "Resume a paused job",
                {
                    "200": ok("The job.", "Job"),
                    "404": not_found("job"),
                    "409": error("The job is `succeeded`, `failed` or `cancelled`."),
                },
                description=(
                    "Releases the held runs: the schedule continues from the next occurrence "
                    "after now, and an occurrence missed while paused follows "
                    "`misfire_policy`. Resuming a live job that is not paused is a no-op `200`."
                ),
                parameters=[path_id("job_id", "job")],
            )
        },
        "/jobs/{job_id}/trigger": {
            "post": operation(
                "triggerJob",
                "jobs",
                "Run a job once now, outside its schedule",
                {
                    "202": ok("The run was created and is due now.", "Run"),
                    "404": not_found("job"),
                    "409": error("The job is cancelled; reschedule it to run it again."),
                },
                description=(
                    "Starts one extra run now. It is outside the schedule: it is not counted "
                    "in `run_count` or `max_runs` and is not subject to `overlap_policy`."
                ),
                parameters=[path_id("job_id", "job")],
            )
        },
        "/jobs/{job_id}/upcoming": {
            "get": operation(
                "upcomingRuns",
                "jobs",
                "The job's next occurrence times",
                {
                    "200": ok("The next occurrence times.", "Upcoming"),
                    "400": error("`count` is not an integer from 1 to 100."),
                    "404": not_found("job"),
                },
                parameters=[
                    path_id("job_id", "job"),
                    query(
                        "count",
                        "How many occurrences (1 to 100, default 10).",
                        integer(minimum=1, maximum=100, default=10),
                    ),
                ],
            )
        },
    }


def operations_paths() -> dict[str, Schema]:
    return {
        "/health": {
            "get": operation(
                "health",
                "operations",
                "Liveness",
                {"200": ok("The process is up.", "HealthStatus")},
                auth=False,
                database=False,
            )
        },
        "/ready": {
            "get": operation(
                "ready",
                "operations",
                "Readiness",
                {
                    "200": ok("The database is reachable.", "HealthStatus"),
                    "503": error("The database is not reachable; the description says why."),
                },
                auth=False,
            )
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "operations",
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Metrics in the Prometheus text exposition format.",
                        "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
                    }
                },
                auth=False,
                database=False,  # reports chronos_database_up 0 instead
            )
        },
        "/openapi.json": {
            "get": operation(
                "openapi",
                "operations",
                "This document",
                {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": json_content({"type": "object"}),
                    }
                },
                auth=False,
                database=False,
            )
        },
    }


DESCRIPTION = """\
Chronos is a distributed job scheduler: submit jobs that run now, at a time, or on a \
recurring schedule, and follow their runs.

Conventions:

- JSON in and out. A body that is not valid JSON, or not an object, gets `400`; a \
non-JSON `Content-Type` gets `415`; a body over the size limit gets `413`. Unknown \
fields in a request body get `400`.
- Times are RFC 3339. Requests must carry an offset (`Z` or `+HH:MM`); responses are \
always UTC with a `Z` and milliseconds, e.g. `2026-12-01T09:00:00.000Z`.
- Every error body is `{"title", "description"}`, and the description names the field \
at fault, e.g. `schedule.cron: expected 5 fields, got 3`.
- `404` also covers another user's job or user, and a malformed id: existence is never \
revealed.
- Lists are newest first and paged with an opaque `next_cursor` (null on the last page).
"""


def build_openapi(*, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``max_body_bytes`` is the server's body limit (413)."""
    paths: dict[str, Schema] = {}
    paths.update(user_paths(max_body_bytes))
    paths.update(job_paths(max_body_bytes))
    paths.update(operations_paths())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Chronos", "version": "1.0.0", "description": DESCRIPTION},
        "tags": [
            {"name": "users", "description": "Accounts."},
            {"name": "auth", "description": "Bearer tokens."},
            {"name": "jobs", "description": "Jobs, their schedules and their runs."},
            {"name": "operations", "description": "Health, readiness, metrics, this document."},
        ],
        "paths": paths,
        "components": components(max_body_bytes),
    }
