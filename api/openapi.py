"""The OpenAPI 3.1 document of the Chronos HTTP API, served at ``GET /openapi.json``.

What is written here is the route table: paths, parameters, the statuses each route
answers with, descriptions and links. Every body's schema comes from the pydantic models
in :mod:`shared.schemas`, the same that validate requests and serialise responses, and
the submit body lists each registered job type with its own payload, operators' types
included. The document is built once per registry state and kept.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, RootModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from shared import jobtypes
from shared.schemas import audit, common, jobs, queries, queues, users
from shared.settings import DEFAULT_MAX_BODY_BYTES
from shared.validation import submit_model

Schema = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
BEARER = "bearerAuth"
REF_TEMPLATE = "#/components/schemas/{model}"
PAGING_DESCRIPTION = jobs.PAGING_TEXT

# (model, the mode its schema is read in): requests are validated, responses serialised.
REQUEST_MODELS: list[type[BaseModel]] = [
    users.UserCreate,
    users.UserUpdate,
    users.Credentials,
    jobs.ScheduleInput,
    jobs.BatchBody,
    queues.QueuePatch,
]
RESPONSE_MODELS: list[type[BaseModel]] = [
    common.Error,
    common.HealthStatus,
    users.User,
    users.UserCreated,
    users.TokenResponse,
    jobs.Job,
    jobs.Run,
    jobs.RunError,
    jobs.Schedule,
    jobs.JobPage,
    jobs.RunPage,
    jobs.JobBatch,
    jobs.Upcoming,
    queues.Queue,
    queues.QueueList,
    audit.AuditEvent,
    audit.AuditPage,
]


class ChronosSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, without the titles it derives from Python names (the
    component names and descriptions say it better)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> Schema:
        # An optional field that may not be null ("leave it as it is") has no default to
        # show: None is Python's "not given", not a value a client may send.
        generated = super().default_schema(schema)
        kinds = generated.get("type")
        if generated.get("default", ...) is None and isinstance(kinds, str) and kinds != "null":
            del generated["default"]
        return generated


def submit_body() -> type[BaseModel]:
    """The submit body: one variant per registered job type, told apart by ``type``."""
    variants = tuple(submit_model(job_type) for _, job_type in sorted(jobtypes.REGISTRY.items()))
    union: Any = Annotated[Union[variants], Field(discriminator="type")]  # noqa: UP007
    return type(
        jobs.SUBMIT_BODY,
        (RootModel[union],),
        {
            "__doc__": (
                "A job to submit: its `type` decides the `payload`. Null fields take their "
                "defaults; unknown fields get `400`. An unregistered type gets `400`; a `shell` "
                "job from a user who is not an admin, or while `CHRONOS_ENABLE_SHELL_JOBS` is "
                "off, gets `403`."
            ),
            "__module__": __name__,
        },
    )


def component_schemas() -> dict[str, Schema]:
    """``components.schemas``, from the models."""
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "validation") for model in [*REQUEST_MODELS, submit_body()]),
        *((model, "serialization") for model in RESPONSE_MODELS),
    ]
    _, top = models_json_schema(pairs, ref_template=REF_TEMPLATE, schema_generator=ChronosSchema)
    schemas: dict[str, Schema] = dict(top.get("$defs", {}))
    schemas["RescheduleBody"] = {
        "$ref": REF_TEMPLATE.format(model="ScheduleInput"),
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
    return dict(sorted(schemas.items()))


def components(max_body_bytes: int) -> Schema:
    return {
        "schemas": component_schemas(),
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
                "schema": {"type": "string", "examples": ["Bearer"]},
            },
            "Retry-After": {
                "description": "How many seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "string", "examples": ["30"]},
            },
        },
    }


def ref(name: str) -> Schema:
    return {"$ref": REF_TEMPLATE.format(model=name)}


# Parameters.


def path_id(name: str, what: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id. A malformed id gets `404`.",
        "schema": {"type": "string", "format": "uuid"},
    }


def query_parameters(model: type[queries.Query]) -> list[Schema]:
    """The query parameters a query model reads, each with its field's schema."""
    properties = model.model_json_schema(schema_generator=ChronosSchema)["properties"]
    parameters = []
    for name, schema in properties.items():
        schema = dict(schema)
        description = schema.pop("description", "")
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": description,
                "schema": schema,
            }
        )
    return parameters


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
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
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


LIMITS_TEXT = (
    "A user who is not an admin is held to the per-user limits: at most "
    "`CHRONOS_MAX_LIVE_JOBS_PER_USER` live jobs (not finished or cancelled; default 10000) "
    "and `CHRONOS_SUBMITS_PER_MINUTE` jobs and triggers a minute (default 1000; each job of "
    "a batch counts), both `429`; occurrences at least `CHRONOS_MIN_INTERVAL_SECONDS` apart "
    "(default 60; `interval_seconds`, and the shortest gap of a `cron` or `repeat`, daylight "
    "saving included) and `priority` at most `CHRONOS_MAX_USER_PRIORITY` (default 5), both "
    "`400` naming the field."
)


def too_many(description: str) -> Schema:
    """429 for a per-user limit: ``Retry-After`` only when waiting lifts it (the rate)."""
    response = error(description)
    response["headers"] = {
        "Retry-After": {
            "description": (
                "Seconds until the minute's window frees (`CHRONOS_SUBMITS_PER_MINUTE`). "
                "Absent for the live-jobs limit, which waiting does not lift."
            ),
            "required": False,
            "schema": {"type": "string", "examples": ["12"]},
        }
    }
    return response


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
                    "409": error("The username is taken (compared after NFKC and case folding)."),
                    "429": error(
                        "Too many sign-ups from this address (`CHRONOS_SIGNUPS_PER_MINUTE`); "
                        "wait for `Retry-After` seconds.",
                        "Retry-After",
                    ),
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
                        "Too many attempts from this address, or too many failures for this "
                        "username from this address; wait for `Retry-After` seconds.",
                        "Retry-After",
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
                    "403": error(
                        "A user who is not an admin tried to set `role`, or a user changing "
                        "their own password sent a wrong `current_password`."
                    ),
                    "404": not_found("user"),
                    "409": error(
                        "The new username is taken, or this is the last admin demoting itself."
                    ),
                },
                description=(
                    "A new password is hashed again. Only an admin may set `role`. Changing "
                    "your own password needs `current_password`. A password change, or a "
                    "change of role, ends every token issued before it (`401`)."
                ),
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
                    "409": error("This is the last admin."),
                },
                description=(
                    "Cancels all of the user's jobs (running runs are interrupted), then "
                    "deletes the user, their jobs and their runs. The account and its tokens "
                    "end at once; a long run history is purged in batches, partly after the "
                    "response."
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
                        "for example an unknown type, a bad payload, schedule or limit, an "
                        "interval below `CHRONOS_MIN_INTERVAL_SECONDS` or a `priority` above "
                        "`CHRONOS_MAX_USER_PRIORITY` (users who are not admins), or an "
                        "`Idempotency-Key` longer than 255 characters",
                    ),
                    "403": error(
                        "A `shell` job from a user who is not an admin, or while shell jobs "
                        "are disabled (`CHRONOS_ENABLE_SHELL_JOBS`)."
                    ),
                    "409": error("The `Idempotency-Key` was already used for a different request."),
                    "429": too_many(
                        "A per-user limit: the user has `CHRONOS_MAX_LIVE_JOBS_PER_USER` live "
                        "jobs, or submitted `CHRONOS_SUBMITS_PER_MINUTE` jobs this minute. "
                        "Nothing was created, and a refused request is not counted."
                    ),
                },
                description=(
                    LIMITS_TEXT + " A repeat under the same `Idempotency-Key` is not counted."
                ),
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
                    "429": too_many(
                        "A per-user limit: the batch would take the user over "
                        "`CHRONOS_MAX_LIVE_JOBS_PER_USER` live jobs, or over "
                        "`CHRONOS_SUBMITS_PER_MINUTE` jobs this minute (a batch larger than "
                        "that limit is refused whatever the minute: split it). No job was "
                        "created, and none was counted."
                    ),
                },
                description=(
                    "All of the jobs are valid and created, or none is. "
                    + LIMITS_TEXT
                    + " Each job of the batch counts as one submit."
                ),
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
                parameters=query_parameters(queries.JobFilters),
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
                    "429": too_many(
                        "The job finished or was cancelled, and running it again would take "
                        "its owner over `CHRONOS_MAX_LIVE_JOBS_PER_USER` live jobs."
                    ),
                },
                description=(
                    "Replaces the schedule and recomputes `next_run_at`. A one-off job that "
                    "finished or was cancelled is scheduled to run again. For a recurring job "
                    "with a run queued or running, only future occurrences change. A paused "
                    "job stays paused. A user who is not an admin may not schedule occurrences "
                    "closer than `CHRONOS_MIN_INTERVAL_SECONDS` (`400`), nor revive a job "
                    "beyond `CHRONOS_MAX_LIVE_JOBS_PER_USER` (`429`)."
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
                parameters=[path_id("job_id", "job"), *query_parameters(queries.PageQuery)],
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
                    "429": too_many(
                        "A per-user limit: the user triggered or submitted "
                        "`CHRONOS_SUBMITS_PER_MINUTE` jobs this minute, or the job finished "
                        "and running it again would exceed `CHRONOS_MAX_LIVE_JOBS_PER_USER`."
                    ),
                },
                description=(
                    "Starts one extra run now. It is outside the schedule: it is not counted "
                    "in `run_count` or `max_runs` and is not subject to `overlap_policy`. "
                    "For a user who is not an admin it counts as one submit "
                    "(`CHRONOS_SUBMITS_PER_MINUTE`)."
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
                parameters=[path_id("job_id", "job"), *query_parameters(queries.UpcomingQuery)],
            )
        },
    }


def queue_name() -> Schema:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "A queue in `CHRONOS_QUEUES`; any other name gets `404`.",
        "schema": {"type": "string", "pattern": jobs.QUEUE_PATTERN},
    }


def queue_paths(max_body_bytes: int) -> dict[str, Schema]:
    admin_only = error("The caller is not an admin.")
    no_queue = error("No such queue in `CHRONOS_QUEUES`.")
    changed = ok("The queue, changed (with everyone's runs counted).", "Queue")

    def shorthand(operation_id: str, summary: str, description: str) -> Schema:
        return {
            "post": operation(
                operation_id,
                "queues",
                summary,
                {"200": changed, "403": admin_only, "404": no_queue},
                description=description,
                parameters=[queue_name()],
            )
        }

    return {
        "/queues": {
            "get": operation(
                "listQueues",
                "queues",
                "List the queues",
                {"200": ok("Every queue in `CHRONOS_QUEUES`, in that order.", "QueueList")},
                description=("A user's counts cover their own runs; an admin's cover everyone's."),
            )
        },
        "/queues/{name}": {
            "get": operation(
                "getQueue",
                "queues",
                "Get a queue",
                {"200": ok("The queue.", "Queue"), "404": no_queue},
                parameters=[queue_name()],
            ),
            "patch": operation(
                "updateQueue",
                "queues",
                "Pause, resume or limit a queue (admins)",
                {
                    "200": changed,
                    **body_errors(max_body_bytes, "paused or concurrency"),
                    "403": admin_only,
                    "404": no_queue,
                },
                description=(
                    "A paused queue's due runs wait as `pending`; runs already queued or "
                    "running go on. After a resume each job's `misfire_policy` decides what "
                    "its missed occurrences do. `concurrency` caps the runs queued or "
                    "running at once, across every scheduler and worker."
                ),
                parameters=[queue_name()],
                body=json_body("QueuePatch", "The controls to change."),
            ),
        },
        "/queues/{name}/pause": shorthand(
            "pauseQueue", "Pause a queue (admins)", "The same as `PATCH` with `paused: true`."
        ),
        "/queues/{name}/resume": shorthand(
            "resumeQueue", "Resume a queue (admins)", "The same as `PATCH` with `paused: false`."
        ),
    }


def audit_paths() -> dict[str, Schema]:
    return {
        "/audit": {
            "get": operation(
                "listAuditEvents",
                "audit",
                "The audit log (admins only)",
                {
                    "200": ok("A page of audit events, newest first.", "AuditPage"),
                    "400": error("A bad `actor`, `action`, `object_id`, `limit` or `cursor`."),
                    "403": error("The caller is not an admin."),
                },
                description=(
                    "One event per change a user or operator made (jobs created, cancelled, "
                    "paused, resumed, rescheduled or triggered; users created, changed or "
                    "deleted), written in the same transaction as the change: who, what, "
                    "which object, when and the request id. A request that changed nothing "
                    "has none. Events older than `CHRONOS_AUDIT_RETENTION_DAYS` (90 by "
                    "default) are pruned. " + PAGING_DESCRIPTION
                ),
                parameters=query_parameters(queries.AuditFilters),
            )
        }
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
    return json.loads(openapi_json(max_body_bytes))  # type: ignore[no-any-return]


def openapi_json(max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """The document as JSON, built once for each state of the job-type registry."""
    return _encoded(max_body_bytes, registry_state())


def registry_state() -> tuple[tuple[str, int, bool], ...]:
    """What the document depends on besides the code: the registered job types."""
    return tuple(
        (name, id(job_type.validate), job_type.admin_only)
        for name, job_type in sorted(jobtypes.REGISTRY.items())
    )


@lru_cache(maxsize=8)
def _encoded(max_body_bytes: int, registry: tuple[tuple[str, int, bool], ...]) -> bytes:
    return json.dumps(_build(max_body_bytes), separators=(",", ":")).encode()


def _build(max_body_bytes: int) -> dict[str, Any]:
    paths: dict[str, Schema] = {}
    paths.update(user_paths(max_body_bytes))
    paths.update(job_paths(max_body_bytes))
    paths.update(queue_paths(max_body_bytes))
    paths.update(audit_paths())
    paths.update(operations_paths())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Chronos", "version": "1.0.0", "description": DESCRIPTION},
        "tags": [
            {"name": "users", "description": "Accounts."},
            {"name": "auth", "description": "Bearer tokens."},
            {"name": "jobs", "description": "Jobs, their schedules and their runs."},
            {"name": "queues", "description": "Queues: what they hold, pause and limits."},
            {"name": "audit", "description": "Who changed what, and when."},
            {"name": "operations", "description": "Health, readiness, metrics, this document."},
        ],
        "paths": paths,
        "components": components(max_body_bytes),
    }
