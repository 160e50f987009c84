"""The OpenAPI document: every route of API.md, well-formed and self-consistent. No I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.openapi import build_openapi
from shared.schemas.jobs import QUEUE_PATTERN

# Every route of API.md: (method, path, authenticated).
ROUTES = [
    ("post", "/users/create", False),
    ("post", "/auth/token", False),
    ("get", "/users/{user_id}", True),
    ("put", "/users/{user_id}/update", True),
    ("delete", "/users/{user_id}/delete", True),
    ("post", "/jobs/submit", True),
    ("get", "/jobs", True),
    ("get", "/jobs/{job_id}", True),
    ("delete", "/jobs/{job_id}", True),
    ("put", "/jobs/{job_id}/reschedule", True),
    ("get", "/jobs/{job_id}/runs", True),
    ("post", "/jobs/{job_id}/pause", True),
    ("post", "/jobs/{job_id}/resume", True),
    ("post", "/jobs/{job_id}/trigger", True),
    ("get", "/jobs/{job_id}/upcoming", True),
    ("post", "/jobs/batch", True),
    ("get", "/queues", True),
    ("get", "/queues/{name}", True),
    ("patch", "/queues/{name}", True),
    ("post", "/queues/{name}/pause", True),
    ("post", "/queues/{name}/resume", True),
    ("get", "/audit", True),
    ("get", "/health", False),
    ("get", "/ready", False),
    ("get", "/metrics", False),
    ("get", "/openapi.json", False),
]

# The success and error statuses each route can answer with.
STATUSES = {
    # Every route that reads or writes the database may answer 503 while it is down.
    # 401 only when registration is closed and no valid (admin) token is sent.
    ("post", "/users/create"): {"201", "400", "401", "403", "409", "413", "429", "415", "503"},
    ("post", "/auth/token"): {"200", "400", "401", "413", "415", "429", "503"},
    ("get", "/users/{user_id}"): {"200", "401", "404", "503"},
    ("put", "/users/{user_id}/update"): {
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "503",
    },
    ("delete", "/users/{user_id}/delete"): {"204", "401", "404", "409", "503"},
    ("post", "/jobs/submit"): {
        *("200", "201", "400", "401", "403", "409", "413", "415", "429", "503"),
    },
    ("get", "/jobs"): {"200", "400", "401", "503"},
    ("get", "/jobs/{job_id}"): {"200", "401", "404", "503"},
    ("delete", "/jobs/{job_id}"): {"200", "401", "404", "409", "503"},
    ("put", "/jobs/{job_id}/reschedule"): {
        *("200", "400", "401", "404", "409", "413", "415", "429", "503"),
    },
    ("get", "/jobs/{job_id}/runs"): {"200", "400", "401", "404", "503"},
    ("post", "/jobs/{job_id}/pause"): {"200", "401", "404", "409", "503"},
    ("post", "/jobs/{job_id}/resume"): {"200", "401", "404", "409", "503"},
    ("post", "/jobs/{job_id}/trigger"): {"202", "401", "404", "409", "429", "503"},
    ("get", "/jobs/{job_id}/upcoming"): {"200", "400", "401", "404", "503"},
    ("post", "/jobs/batch"): {"201", "400", "401", "403", "413", "415", "429", "503"},
    ("get", "/queues"): {"200", "401", "503"},
    ("get", "/queues/{name}"): {"200", "401", "404", "503"},
    ("patch", "/queues/{name}"): {"200", "400", "401", "403", "404", "413", "415", "503"},
    ("post", "/queues/{name}/pause"): {"200", "401", "403", "404", "503"},
    ("post", "/queues/{name}/resume"): {"200", "401", "403", "404", "503"},
    ("get", "/audit"): {"200", "400", "401", "403", "503"},
    ("get", "/health"): {"200"},
    ("get", "/ready"): {"200", "503"},
    ("get", "/metrics"): {"200"},
    ("get", "/openapi.json"): {"200"},
}

COMPONENTS = [
    "User",
    "Job",
    "Run",
    "Schedule",
    "SubmitBody",
    "BatchBody",
    "JobPage",
    "RunPage",
    "Upcoming",
    "TokenResponse",
    "UserCreated",
    "Error",
    "UserCreate",
    "UserUpdate",
    "Credentials",
    "RescheduleBody",
    "AuditPage",
    "AuditEvent",
]
REQUEST_BODIES = ["SubmitBody", "BatchBody", "UserCreate", "UserUpdate", "Credentials"]
RESPONSE_BODIES = [
    "User",
    "Job",
    "Run",
    "Schedule",
    "JobPage",
    "RunPage",
    "Upcoming",
    "Error",
    "AuditPage",
]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi()


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][path][method]
    return op


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (location, value) in the document, depth first."""
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = doc
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), pointer
        assert part in node, f"{pointer}: no {part!r}"
        node = node[part]
    return node


def deref(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def test_document_is_json_and_openapi_3_1(doc: dict[str, Any]) -> None:
    assert json.loads(json.dumps(doc)) == doc
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "Chronos"
    assert doc["info"]["version"] == "1.0.0"
    assert doc["info"]["description"]
    assert "servers" not in doc


def test_documents_exactly_the_routes_of_the_contract(doc: dict[str, Any]) -> None:
    documented = {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert documented == {(method, path) for method, path, _ in ROUTES}


@pytest.mark.parametrize(("method", "path", "authenticated"), ROUTES)
def test_route_responses_and_security(
    doc: dict[str, Any], method: str, path: str, authenticated: bool
) -> None:
    op = operation(doc, method, path)
    responses = op["responses"]
    assert any(code.startswith("2") for code in responses)
    assert set(responses) == STATUSES[(method, path)]
    for response in responses.values():
        assert response["description"]
    if authenticated:
        assert op["security"] == [{"bearerAuth": []}]
        assert "401" in responses
    else:
        assert not any("bearerAuth" in requirement for requirement in op.get("security", []))
    assert "bearerAuth" not in json.dumps(doc.get("security", []))


def test_bearer_scheme(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


@pytest.mark.parametrize(("method", "path", "authenticated"), ROUTES)
def test_path_parameters_are_declared_uuids_or_queue_names(
    doc: dict[str, Any], method: str, path: str, authenticated: bool
) -> None:
    op = operation(doc, method, path)
    declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
    assert set(declared) == set(re.findall(r"{(\w+)}", path))
    for name, parameter in declared.items():
        assert parameter["required"] is True
        if name == "name":  # a queue's name, not an id
            assert parameter["schema"] == {"type": "string", "pattern": QUEUE_PATTERN}
        else:
            assert parameter["schema"] == {"type": "string", "format": "uuid"}


def test_query_parameters(doc: dict[str, Any]) -> None:
    listing = {p["name"]: p for p in operation(doc, "get", "/jobs")["parameters"]}
    assert set(listing) == {"status", "type", "queue", "name", "limit", "cursor"}
    assert listing["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 50,
    }
    for name in ("type", "queue", "name"):
        assert listing[name]["schema"] == {
            "type": "string",
            "maxLength": 200,
            "pattern": "^[^\\x00]*$",  # PostgreSQL stores no NUL
        }, name
    assert "cancelled" in listing["status"]["schema"]["enum"]
    runs = {p["name"] for p in operation(doc, "get", "/jobs/{job_id}/runs")["parameters"]}
    assert runs == {"job_id", "limit", "cursor"}
    upcoming = {
        p["name"]: p for p in operation(doc, "get", "/jobs/{job_id}/upcoming")["parameters"]
    }
    assert upcoming["count"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    submit = operation(doc, "post", "/jobs/submit")["parameters"]
    assert submit == [
        {
            **submit[0],
            "name": "Idempotency-Key",
            "in": "header",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ]


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = [
        (where, node["$ref"])
        for where, node in walk(doc)
        if isinstance(node, dict) and "$ref" in node
    ]
    assert len(refs) > 20
    for where, target in refs:
        assert target.startswith("#/components/"), where
        assert isinstance(resolve(doc, target), dict), where


def test_links_name_existing_operations_and_their_path_parameters(doc: dict[str, Any]) -> None:
    operations = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    assert len(operations) == len(ROUTES)
    links = [
        link
        for item in doc["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert links
    for link in links:
        target = operations[link["operationId"]]
        path_params = {p["name"] for p in target["parameters"] if p["in"] == "path"}
        assert set(link["parameters"]) <= path_params, link


def test_components_exist(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in COMPONENTS:
        assert name in schemas, name
    assert schemas["Error"]["required"] == ["title", "description"]


def test_every_error_response_uses_the_error_schema(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for code, response in op["responses"].items():
                if int(code) < 400:
                    continue
                where = f"{method.upper()} {path} {code}"
                assert response["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }, where
                if code == "401":
                    header = deref(doc, response["headers"]["WWW-Authenticate"])
                    assert header["schema"]["type"] == "string", where
                if code == "429":
                    assert "Retry-After" in response["headers"], where


def test_success_bodies(doc: dict[str, Any]) -> None:
    def schema_of(method: str, path: str, code: str, media: str = "application/json") -> Any:
        return operation(doc, method, path)["responses"][code]["content"][media]["schema"]

    job = {"$ref": "#/components/schemas/Job"}
    assert schema_of("post", "/jobs/submit", "201") == job
    assert schema_of("post", "/jobs/submit", "200") == job
    assert schema_of("get", "/jobs", "200") == {"$ref": "#/components/schemas/JobPage"}
    assert schema_of("post", "/jobs/{job_id}/trigger", "202") == {
        "$ref": "#/components/schemas/Run"
    }
    assert "content" not in operation(doc, "delete", "/users/{user_id}/delete")["responses"]["204"]
    assert schema_of("get", "/metrics", "200", "text/plain; version=0.0.4") == {"type": "string"}
    batch = deref(doc, schema_of("post", "/jobs/batch", "201"))
    assert batch["properties"]["items"]["items"] == job


def test_request_bodies_are_closed_and_responses_open(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in REQUEST_BODIES:
        if name == "SubmitBody":  # a union: each job type's variant is closed
            for variant in schemas[name]["oneOf"]:
                assert deref(doc, variant)["additionalProperties"] is False, variant
            continue
        assert schemas[name]["additionalProperties"] is False, name
    assert deref(doc, schemas["RescheduleBody"])["additionalProperties"] is False
    for name in RESPONSE_BODIES:
        assert "additionalProperties" not in schemas[name], name
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in {"post", "put"} and "requestBody" in op:
                content = op["requestBody"]["content"]
                assert list(content) == ["application/json"], path
                assert "$ref" in content["application/json"]["schema"], path


def test_limits_are_schema_keywords(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    variants = [deref(doc, variant) for variant in schemas["SubmitBody"]["oneOf"]]
    # One variant per registered type (the built-in six, and any a test module added),
    # told apart by its `type`.
    from shared import jobtypes

    consts = sorted(variant["properties"]["type"]["const"] for variant in variants)
    assert consts == sorted(jobtypes.REGISTRY)
    assert {"email", "fail", "http", "noop", "shell", "sleep"} <= set(consts)
    assert schemas["SubmitBody"]["discriminator"]["propertyName"] == "type"
    submit = schemas["Submit_noop"]["properties"]
    assert submit["queue"]["pattern"] == "^[a-z0-9_-]{1,64}$"
    assert (submit["name"]["minLength"], submit["name"]["maxLength"]) == (1, 200)
    assert (submit["priority"]["minimum"], submit["priority"]["maximum"]) == (0, 9)
    assert (submit["max_attempts"]["minimum"], submit["max_attempts"]["maximum"]) == (1, 100)
    timeout = submit["timeout_seconds"]
    assert (timeout["minimum"], timeout["maximum"]) == (1, 86400)
    assert schemas["Submit_noop"]["required"] == ["type"]
    # An http payload has a required url, so the payload cannot be left out.
    assert schemas["Submit_http"]["properties"]["payload"] == {
        "$ref": "#/components/schemas/HttpPayload",
        "description": "The job type's payload.",
    }
    assert "payload" in schemas["Submit_http"]["required"]
    schedule = schemas["ScheduleInput"]["properties"]
    assert schedule["interval_seconds"]["minimum"] == 1
    assert schedule["max_runs"]["minimum"] == 1
    jobs = schemas["BatchBody"]["properties"]["jobs"]
    assert (jobs["minItems"], jobs["maxItems"]) == (1, 1000)
    user = schemas["UserCreate"]["properties"]
    assert user["username"]["pattern"] == "^[A-Za-z0-9_.-]{3,64}$"
    assert user["password"]["minLength"] == 8


def test_response_fields_are_required_and_nullable_as_the_contract_says(
    doc: dict[str, Any],
) -> None:
    schemas = doc["components"]["schemas"]
    job = schemas["Job"]
    assert set(job["required"]) == set(job["properties"])
    assert allows_null(job["properties"]["next_run_at"])
    assert allows_null(job["properties"]["last_run"])
    run = schemas["Run"]["properties"]
    for field in ("queued_at", "started_at", "finished_at", "worker", "result", "error"):
        assert allows_null(run[field]), field
    for field in ("id", "job_id", "attempt", "scheduled_for", "state"):
        assert not allows_null(run[field]), field
    assert run["state"]["enum"] == [
        "pending",
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "skipped",
        "lost",
    ]
    assert allows_null(schemas["User"]["properties"]["email"])
    assert allows_null(schemas["JobPage"]["properties"]["next_cursor"])
    for where, node in walk(doc):
        if isinstance(node, dict) and node.get("format") == "date-time":
            assert node["type"] in ("string", ["string", "null"]), where
        if isinstance(node, dict):
            assert node.get("nullable") is None, f"{where}: 3.0-style nullable"


def allows_null(schema: dict[str, Any]) -> bool:
    """Whether a schema admits null, written as a type list or as an anyOf branch."""
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return "null" in kinds
    return {"type": "null"} in schema.get("anyOf", [])


def test_body_limit_is_documented() -> None:
    doc = build_openapi(max_body_bytes=1234)
    response = operation(doc, "post", "/jobs/submit")["responses"]["413"]
    assert "1234 bytes" in response["description"]


def test_component_schemas_are_valid_draft_2020_12(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for name, schema in doc["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:  # pragma: no cover - a failure's detail
            pytest.fail(f"{name}: {error.message}")


def test_document_validates_as_openapi_3_1(doc: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(doc)


def test_an_operators_job_type_appears_in_the_document_with_its_payload() -> None:
    from pydantic import Field

    from shared import jobtypes
    from shared.schemas.payloads import Payload

    class ResizePayload(Payload):
        image_id: str = Field(description="The image to resize.")

    jobtypes.register("resize", ResizePayload)
    try:
        schemas = build_openapi()["components"]["schemas"]
    finally:
        del jobtypes.REGISTRY["resize"]
    assert schemas["SubmitBody"]["discriminator"]["mapping"]["resize"].endswith("Submit_resize")
    payload = schemas["Submit_resize"]["properties"]["payload"]
    assert payload["$ref"] == "#/components/schemas/ResizePayload"
    assert schemas["ResizePayload"]["required"] == ["image_id"]
    assert (
        "resize"
        not in build_openapi()["components"]["schemas"]["SubmitBody"]["discriminator"]["mapping"]
    )
