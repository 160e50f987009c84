"""The document cannot promise what the API does not do: every enum, pattern, bound and
length in the request schemas of ``/openapi.json`` is probed against the validation
that really runs (``parse_submit``, ``parse_body``), on both sides of the line. No I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.openapi import build_openapi
from shared.errors import ValidationError
from shared.schemas import jobs, queries, users
from shared.validation import parse_body, parse_schedule, parse_submit

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DOC = build_openapi()
SCHEMAS = DOC["components"]["schemas"]
Check = Callable[[dict[str, Any]], object]


def submit_as(type_name: str, payload: dict[str, Any]) -> Check:
    def check(fields: dict[str, Any]) -> object:
        body = {"type": type_name, "payload": payload, **fields}
        return parse_submit(body, NOW, is_admin=True, shell_enabled=True)

    return check


def payload_of(type_name: str, base: dict[str, Any]) -> Check:
    def check(fields: dict[str, Any]) -> object:
        body = {"type": type_name, "payload": {**base, **fields}}
        return parse_submit(body, NOW, is_admin=True, shell_enabled=True)

    return check


def model(model_type: Any, base: dict[str, Any]) -> Check:
    return lambda fields: parse_body(model_type, {**base, **fields})


def query(model_type: Any) -> Check:
    return lambda fields: parse_body(model_type, {k: str(v) for k, v in fields.items()})


# (component, what validates it, a valid body to vary one field of).
REQUEST_SCHEMAS: list[tuple[str, Check, str]] = [
    ("Submit_noop", submit_as("noop", {}), ""),
    ("ScheduleInput", lambda f: parse_schedule(f, NOW), "schedule"),
    ("HttpPayload", payload_of("http", {"url": "https://example.com/x"}), "payload"),
    ("EmailPayload", payload_of("email", {"to": ["a@b.c"], "subject": "s"}), "payload"),
    ("ShellPayload", payload_of("shell", {"argv": ["true"]}), "payload"),
    ("SleepPayload", payload_of("sleep", {}), "payload"),
    ("FailPayload", payload_of("fail", {}), "payload"),
    ("UserCreate", model(users.UserCreate, {"username": "alice", "password": "x" * 8}), ""),
    ("UserUpdate", model(users.UserUpdate, {}), ""),
    ("Credentials", model(users.Credentials, {"username": "a", "password": "b"}), ""),
    ("BatchBody", model(jobs.BatchBody, {"jobs": [{"type": "noop"}]}), ""),
]


# Fields whose valid values are decided by more than their schema (a cron expression
# croniter can read, a zone tzdata has): only the values the schema refuses are probed.
# The queue's pattern is its shape; which queues exist is the deployment's (CHRONOS_QUEUES).
SEMANTIC = {
    ("ScheduleInput", "cron"),
    ("ScheduleInput", "timezone"),
    ("Submit_noop", "queue"),
}


def probes(schema: dict[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(what, value, valid) on both sides of each rule the schema states."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    for value in schema.get("enum", []):
        if value is not None:
            yield "enum member", value, True
    if "enum" in schema:
        yield "not in enum", "no-such-value", False
    low, high = schema.get("minimum"), schema.get("maximum")
    step = 1 if "integer" in kinds else 0.5
    if low is not None:
        yield "minimum", low, True
        yield "below minimum", low - step, False
    if high is not None:
        yield "maximum", high, True
        yield "above maximum", high + step, False
    if "string" in kinds and "pattern" not in schema and "format" not in schema:
        if "minLength" in schema and schema["minLength"] > 0:
            yield "minLength", "x" * schema["minLength"], True
            yield "below minLength", "x" * (schema["minLength"] - 1), False
        if "maxLength" in schema:
            yield "maxLength", "x" * schema["maxLength"], True
            yield "above maxLength", "x" * (schema["maxLength"] + 1), False
    if "string" in kinds and "pattern" in schema:
        outside = "\u2603 \n"
        if not re.search(schema["pattern"], outside):
            yield "outside pattern", outside, False
    items = schema.get("items", {})
    if "array" in kinds and "maxItems" in schema and items.get("type") == "string":
        yield "above maxItems", ["x"] * (schema["maxItems"] + 1), False


def cases() -> Iterator[Any]:
    for component, check, prefix in REQUEST_SCHEMAS:
        for field, schema in SCHEMAS[component]["properties"].items():
            for what, value, valid in probes(schema):
                if valid and (component, field) in SEMANTIC:
                    continue
                yield pytest.param(
                    check, prefix, field, value, valid, id=f"{component}.{field} {what}"
                )


def assert_agrees(check: Check, prefix: str, field: str, value: Any, valid: bool) -> None:
    if valid:
        check({field: value})
        return
    with pytest.raises(ValidationError) as caught:
        check({field: value})
    path = f"{prefix}.{field}" if prefix else field
    assert caught.value.field.startswith(path), (caught.value.field, path)


@pytest.mark.parametrize(("check", "prefix", "field", "value", "valid"), list(cases()))
def test_every_documented_rule_is_the_rule_that_runs(
    check: Check, prefix: str, field: str, value: Any, valid: bool
) -> None:
    assert_agrees(check, prefix, field, value, valid)


def test_the_probes_cover_every_kind_of_rule() -> None:
    """A probe generator that silently found nothing would make the test above vacuous."""
    ids = {param.id.split(" ", 1)[1] for param in cases()}
    for kind in ("enum member", "not in enum", "minimum", "above maximum", "outside pattern"):
        assert kind in ids
    assert len(list(cases())) > 40


PATTERNS = [
    (component, field, schema["pattern"], check, prefix)
    for component, check, prefix in REQUEST_SCHEMAS
    for field, schema in SCHEMAS[component]["properties"].items()
    if "pattern" in schema and "format" not in schema
]


@pytest.mark.parametrize(
    ("component", "field", "pattern", "check", "prefix"),
    PATTERNS,
    ids=[f"{c}.{f}" for c, f, *_ in PATTERNS],
)
@settings(max_examples=25, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_strings_the_documented_pattern_admits_are_accepted(
    component: str, field: str, pattern: str, check: Check, prefix: str, data: st.DataObject
) -> None:
    if (component, field) in SEMANTIC:
        return
    value = data.draw(st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="utf-8")))
    schema = SCHEMAS[component]["properties"][field]
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9):
        return  # the length rules are probed on their own
    if field == "url":
        return  # a URL's host is checked beyond its pattern (the network policy)
    assert_agrees(check, prefix, field, value, True)


@pytest.mark.parametrize(
    "model_type",
    [queries.JobFilters, queries.PageQuery, queries.UpcomingQuery, queries.AuditFilters],
)
def test_query_parameters_agree_with_their_models(model_type: Any) -> None:
    documented = {
        parameter["name"]: parameter["schema"]
        for path in DOC["paths"].values()
        for operation in path.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }
    for field in model_type.model_fields:
        for _what, value, valid in probes(documented[field]):
            assert_agrees(query(model_type), "", field, value, valid)
