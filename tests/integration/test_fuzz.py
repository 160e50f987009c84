"""Property-based fuzzing of every documented operation with schemathesis.

The schema is loaded from the app itself (``GET /openapi.json`` on the in-process WSGI
app), and every operation is fuzzed twice: with data that fits the schema (positive)
and, where the operation takes any input, with data that breaks it (negative). Each
response must not be a 5xx, must have a documented status code and content type, and
must match its documented schema, with the headers it documents (WWW-Authenticate on a
401, Retry-After on a 429).

Every request carries a real bearer token: mostly the fuzzing user's, sometimes an
admin's. Path ids are real objects half of the time (the fuzzing user's jobs, another
user's job, real users), so the handlers behind the 404 get exercised too. Deleting and
(as an admin) updating users only ever targets throwaway users, never the accounts the
fuzzing runs as.

Hypothesis is derandomized, so CI sees the same cases on every run. The last test of
the module checks and prints the totals.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from falcon import testing
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from api.auth import hash_password, issue_token
from api.openapi import build_openapi
from shared import jobtypes
from shared.repository import users as user_repo
from shared.settings import Settings

PASSWORD = "fuzzing password 1"
CHECKS = [
    not_a_server_error,
    # The request side: data the document calls invalid is refused, and data it calls
    # valid is accepted, so the document cannot drift from the validation that runs.
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 30
# These hash or verify a password with argon2 on every request (slow on purpose): fewer
# examples keep the module fast.
FEWER_EXAMPLES = {("POST", "/users/create"): 15, ("POST", "/auth/token"): 15}
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    # Each example is a real request to the app and PostgreSQL (and, for users and
    # tokens, a deliberately slow argon2 hash); schemathesis filters generated values
    # against the schema, and request bodies may be large by design.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


SCHEMA_PATH = "/openapi.json"


def documented_operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes input) for every operation in the OpenAPI document but the
    document itself: schemathesis leaves out the route it loaded the schema from."""
    found = []
    for path, item in build_openapi()["paths"].items():
        if path == SCHEMA_PATH:
            continue
        for method, operation in item.items():
            takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
            found.append((method.upper(), path, takes_input))
    return sorted(found, key=lambda entry: (entry[1], entry[0]))


OPERATIONS = documented_operations()
FUZZ_CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path, takes_input in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
]

# Totals over the module, checked by the last test.
TOTALS: dict[str, int] = {"cases": 0, "server_errors": 0, "operations": 0}
SERVER_ERRORS: list[str] = []


@dataclass
class Actor:
    id: str
    token: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}"


@dataclass
class World:
    settings: Settings
    engine: Engine
    user: Actor
    admin: Actor
    other: Actor
    password_hash: str
    job_ids: list[str] = field(default_factory=list)
    other_job_id: str = ""
    accounts: list[Actor] = field(default_factory=list)

    def new_user(self, role: str = "user") -> Actor:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = user_repo.insert_user(
                conn,
                username=f"fz{uuid.uuid4().hex[:14]}",
                email=None,
                password_hash=self.password_hash,
                role=role,
                now=now,
            )
        actor = Actor(str(row["id"]), issue_token(self.settings, row["id"], role, now))
        self.accounts.append(actor)
        return actor


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def submit(client: testing.TestClient, actor: Actor, body: dict[str, Any]) -> str:
    result = client.simulate_post(
        "/jobs/submit", json=body, headers={"Authorization": actor.authorization}
    )
    assert result.status_code == 201, result.text
    return str(result.json["id"])


@pytest.fixture(scope="module")
def world(settings: Settings, engine: Engine, app: Any) -> Iterator[World]:
    placeholder = Actor("", "")
    world = World(settings, engine, placeholder, placeholder, placeholder, hash_password(PASSWORD))
    world.user = world.new_user()
    world.admin = world.new_user("admin")
    world.other = world.new_user()
    yield world
    # Everything the fuzzing made as these users (jobs and their runs) goes with them.
    client = testing.TestClient(app)
    admin = {"Authorization": world.admin.authorization}
    others = [actor for actor in world.accounts if actor is not world.admin]
    for actor in [*others, world.admin]:
        client.simulate_delete(f"/users/{actor.id}/delete", headers=admin)


@pytest.fixture
def fuzz_world(world: World, app: Any) -> World:
    """The module's world with fresh real jobs for each fuzzed operation, so that one
    operation's fuzzing (cancelling them all, say) does not decide what the next sees:
    a one-off job, a paused recurring one, a daily http job and an interval job."""
    client = testing.TestClient(app)
    later = in_an_hour()
    world.job_ids = [
        submit(client, world.user, {"type": "noop", "schedule": {"run_at": later}}),
        submit(
            client,
            world.user,
            {"type": "sleep", "payload": {"seconds": 1}, "schedule": {"cron": "*/5 * * * *"}},
        ),
        submit(
            client,
            world.user,
            {
                "type": "http",
                "payload": {"url": "http://127.0.0.1:9/hook", "json": {"k": [1, 2]}},
                "schedule": {"run_at": later, "repeat": "daily", "timezone": "Europe/Berlin"},
            },
        ),
        submit(client, world.user, {"type": "fail", "schedule": {"interval_seconds": 60}}),
    ]
    paused = client.simulate_post(
        f"/jobs/{world.job_ids[1]}/pause", headers={"Authorization": world.user.authorization}
    )
    assert paused.status_code == 200, paused.text
    world.other_job_id = submit(client, world.other, {"type": "noop"})
    return world


@pytest.fixture(scope="module")
def schema(app: Any) -> Any:
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, app)


def test_the_schema_served_by_the_app_lists_every_documented_operation(schema: Any) -> None:
    served = sorted(
        (result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()
    )
    assert served == sorted((method, path) for method, path, _ in OPERATIONS)


def generated_validly(case: Any, location: str) -> bool:
    """Whether schemathesis meant this part of the case to be valid: a deliberately
    invalid part is sent as it is, or a check would see an invalid request accepted."""
    if case.meta is None:
        return True
    component = case.meta.components.get(ParameterLocation(location))
    return component is None or component.mode.is_positive


def aim(case: Any, world: World, choice: int, as_admin: bool) -> Actor:
    """Point the case's path ids at real objects for some values of ``choice``, and
    return who sends it."""
    actor = world.admin if as_admin else world.user
    params = case.path_parameters
    if params is None or not generated_validly(case, "path"):
        return actor
    if "job_id" in params:
        if choice < len(world.job_ids):
            params["job_id"] = world.job_ids[choice]
        elif choice == len(world.job_ids):
            params["job_id"] = world.other_job_id
    if "user_id" in params:
        deleting = case.method.upper() == "DELETE"
        changing = deleting or case.path.endswith("/update")
        if choice in (0, 1):
            if changing:
                # A throwaway user deletes or changes themselves, or an admin does it.
                target = world.new_user()
                actor = world.admin if as_admin else target
            else:
                target = actor
            params["user_id"] = target.id
        elif choice == 2:
            target = world.new_user() if (deleting or (changing and as_admin)) else world.other
            params["user_id"] = target.id
        elif choice == 3 and not changing:
            params["user_id"] = world.admin.id
    return actor


def steer(case: Any) -> None:
    # Whatever the mode: a case is judged by what it is when sent (schemathesis checks it
    # again once changed), and a negative case whose only fault was a header it no longer
    # has is a valid one.
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    if generated_validly(case, "body"):
        keep_to_what_the_schema_cannot_say(case)


def semantic_schedule(schedule: Any) -> None:
    """A generated schedule that fits its schema, made to fit the rules the document
    states only in words: run_at no more than 5 minutes ago, a cron expression and a time
    zone that exist, and an occurrence before end_at."""
    if not isinstance(schedule, dict):
        return
    if schedule.get("run_at") is not None:
        schedule["run_at"] = in_an_hour()
    if schedule.get("cron") is not None:
        schedule["cron"] = "*/5 * * * *"
    if schedule.get("timezone") is not None:
        schedule["timezone"] = "Europe/Berlin"
    schedule.pop("end_at", None)


def semantic_job(job: Any) -> None:
    if not isinstance(job, dict):
        return
    semantic_schedule(job.get("schedule"))
    if isinstance(job.get("queue"), str):
        # The pattern is the queue's shape; only the deployment's queues are accepted.
        job["queue"] = "default"
    if jobtypes.REGISTRY.get(str(job.get("type"))) is not None and (
        jobtypes.REGISTRY[str(job.get("type"))].payload_model is None
    ):
        # A type registered with a plain function (a test module's) documents its payload
        # as any object, and any object may hold a NUL, which no JSON body may.
        job["payload"] = {}
    payload = job.get("payload")
    if job.get("type") == "http" and isinstance(payload, dict):
        # A literal address may be one the network policy refuses (link-local, metadata),
        # and the free-form json may hold a NUL, which no JSON body may.
        payload["url"] = "http://127.0.0.1:9/fuzz"
        if "json" in payload:
            payload["json"] = {"k": [1, "two"]}


def keep_to_what_the_schema_cannot_say(case: Any) -> None:
    """Valid bodies are checked to be accepted (positive_data_acceptance), so they keep to
    the rules the schema states only in words. No cursor is sent: only this API can
    issue one (foreign cursors are tested in test_hostile_input and test_api_listing)."""
    if not isinstance(case.body, dict):
        return
    if case.path == "/jobs/submit":
        semantic_job(case.body)
    elif case.path == "/jobs/batch" and isinstance(case.body.get("jobs"), list):
        for job in case.body["jobs"]:
            semantic_job(job)
    elif case.path.endswith("/reschedule"):
        semantic_schedule(case.body)
    elif case.path.endswith("/update") and "password" in case.body:
        # Changing your own password needs the current one, a rule about who asks, which
        # no schema states (an admin changing another user's needs none).
        case.body.setdefault("current_password", PASSWORD)


@pytest.mark.parametrize(("method", "path", "mode"), FUZZ_CASES)
def test_every_operation_survives_fuzzing(
    schema: Any, fuzz_world: World, method: str, path: str, mode: GenerationMode
) -> None:
    operation = schema[path][method]
    TOTALS["operations"] += 1

    examples = FEWER_EXAMPLES.get((method, path), MAX_EXAMPLES)

    @hypothesis_settings(FUZZ_SETTINGS, max_examples=examples)
    @given(
        case=operation.as_strategy(generation_mode=mode),
        choice=st.integers(min_value=0, max_value=9),
        as_admin=st.integers(min_value=0, max_value=3).map(lambda n: n == 0),
    )
    def run(case: Any, choice: int, as_admin: bool) -> None:
        actor = aim(case, fuzz_world, choice, as_admin)
        steer(case)
        # Negative cases sometimes carry a garbage Authorization header of their own:
        # keep one now and then (it must get a 401), else send the real token.
        garbage = mode is GenerationMode.NEGATIVE and choice == 9
        if not (garbage and "Authorization" in (case.headers or {})):
            case.headers = {**(case.headers or {}), "Authorization": actor.authorization}
        response = case.call()
        TOTALS["cases"] += 1
        if response.status_code >= 500:
            TOTALS["server_errors"] += 1
            SERVER_ERRORS.append(
                f"{case.method} {case.formatted_path} query={case.query!r} "
                f"body={case.body!r} -> {response.status_code} {response.text[:300]}"
            )
        case.validate_response(response, checks=CHECKS)

    run()


def report(config: pytest.Config, line: str) -> None:
    """Write one line to the terminal past pytest's output capturing (no ``-s`` needed)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


def test_zz_fuzzing_totals(
    request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> None:
    """Runs last in the file: every fuzz case ran and none got a server error."""
    summary = (
        f"fuzz: {TOTALS['cases']} cases over {TOTALS['operations']} operation runs, "
        f"{TOTALS['server_errors']} server errors (5xx)"
    )
    record_property("fuzz_cases", TOTALS["cases"])
    record_property("fuzz_server_errors", TOTALS["server_errors"])
    report(request.config, summary)
    if TOTALS["operations"] == 0:
        pytest.skip("no fuzzing test ran in this session")
    assert TOTALS["cases"] > 10 * TOTALS["operations"], summary
    assert TOTALS["server_errors"] == 0, "\n".join([summary, *SERVER_ERRORS])
