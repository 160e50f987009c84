"""The built-in job types' payload validators, and the registry operators extend."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import jobtypes
from shared.errors import Forbidden, ValidationError
from shared.jobtypes import (
    HTTP_METHODS,
    REGISTRY,
    attach_handler,
    register,
    validate_email,
    validate_fail,
    validate_http,
    validate_noop,
    validate_shell,
    validate_sleep,
)
from shared.validation import parse_submit

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
URL = "https://example.com/hook"


def assert_invalid(call: Callable[[], object], path: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call()
    error = caught.value
    assert error.field == path
    assert str(error).startswith(f"{path}: ")
    return error


# --- registry -------------------------------------------------------------------------------


def test_the_six_builtin_types_are_registered_with_their_validators() -> None:
    expected = {
        "http": validate_http,
        "email": validate_email,
        "shell": validate_shell,
        "sleep": validate_sleep,
        "noop": validate_noop,
        "fail": validate_fail,
    }
    for name, validator in expected.items():
        assert REGISTRY[name].name == name
        assert REGISTRY[name].validate is validator


def test_only_shell_is_admin_only() -> None:
    assert REGISTRY["shell"].admin_only is True
    for name in ("http", "email", "sleep", "noop", "fail"):
        assert REGISTRY[name].admin_only is False


@pytest.fixture
def report_type() -> Iterator[str]:
    """A custom type's name, removed from the registry again after the test."""
    name = "report"
    assert name not in REGISTRY
    yield name
    REGISTRY.pop(name, None)


def validate_report(payload: Mapping[str, Any]) -> dict[str, Any]:
    week = payload.get("week")
    if not isinstance(week, int) or isinstance(week, bool):
        raise ValidationError("week", "expected an integer")
    return {"week": week, "format": "pdf"}


def test_register_adds_a_custom_type(report_type: str) -> None:
    job_type = register(report_type, validate_report)

    assert REGISTRY[report_type] is job_type
    assert job_type.name == report_type
    assert job_type.validate is validate_report
    assert job_type.admin_only is False
    assert job_type.handler is None


def test_a_custom_type_is_accepted_at_submit_with_its_own_validation(report_type: str) -> None:
    register(report_type, validate_report)

    spec = parse_submit(
        {"type": report_type, "payload": {"week": 48}},
        NOW,
        is_admin=False,
        shell_enabled=False,
    )

    assert spec.type == report_type
    assert spec.name == report_type
    assert spec.payload == {"week": 48, "format": "pdf"}
    with pytest.raises(ValidationError) as caught:
        parse_submit(
            {"type": report_type, "payload": {"week": "48"}},
            NOW,
            is_admin=False,
            shell_enabled=False,
        )
    assert str(caught.value) == "payload.week: expected an integer"


def test_a_custom_admin_only_type_is_forbidden_to_users(report_type: str) -> None:
    register(report_type, validate_report, admin_only=True)
    body = {"type": report_type, "payload": {"week": 1}}

    with pytest.raises(Forbidden) as caught:
        parse_submit(body, NOW, is_admin=False, shell_enabled=True)
    assert str(caught.value) == f"type: only admins may submit {report_type} jobs"
    assert parse_submit(body, NOW, is_admin=True, shell_enabled=False).payload == {
        "week": 1,
        "format": "pdf",
    }


def test_attach_handler_sets_the_handler_of_a_registered_type(report_type: str) -> None:
    register(report_type, validate_report)

    def handler(payload: dict[str, Any], ctx: jobtypes.RunContext) -> dict[str, Any]:
        return {"ok": True}

    attach_handler(report_type, handler)

    assert REGISTRY[report_type].handler is handler


def test_attach_handler_to_an_unknown_type_raises() -> None:
    with pytest.raises(KeyError):
        attach_handler("no-such-type", lambda payload, ctx: None)


def test_register_replaces_an_existing_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "noop", REGISTRY["noop"])  # restored after the test

    def lenient(payload: Mapping[str, Any]) -> dict[str, Any]:
        return dict(payload)

    register("noop", lenient)

    assert REGISTRY["noop"].validate is lenient
    spec = parse_submit(
        {"type": "noop", "payload": {"x": 1}}, NOW, is_admin=False, shell_enabled=False
    )
    assert spec.payload == {"x": 1}


def test_an_unregistered_type_is_unknown_at_submit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(REGISTRY, "fail")  # restored after the test

    with pytest.raises(ValidationError) as caught:
        parse_submit({"type": "fail"}, NOW, is_admin=False, shell_enabled=False)
    assert str(caught.value).startswith("type: unknown job type 'fail'")
    assert "fail" not in caught.value.message.split("expected one of ")[1].split(", ")


# --- http -----------------------------------------------------------------------------------


def test_http_fills_in_defaults() -> None:
    assert validate_http({"url": URL}) == {
        "url": URL,
        "method": "POST",
        "headers": {},
        "timeout_seconds": 30.0,
    }


def test_http_keeps_everything_given() -> None:
    checked = validate_http(
        {
            "url": "http://internal:8080/run?x=1",
            "method": "PUT",
            "headers": {"Authorization": "Bearer t", "X-Trace": ""},
            "json": {"week": "current", "n": [1, 2]},
            "timeout_seconds": 5,
        }
    )

    assert checked == {
        "url": "http://internal:8080/run?x=1",
        "method": "PUT",
        "headers": {"Authorization": "Bearer t", "X-Trace": ""},
        "json": {"week": "current", "n": [1, 2]},
        "timeout_seconds": 5.0,
    }
    assert isinstance(checked["timeout_seconds"], float)


def test_http_keeps_a_string_body() -> None:
    checked = validate_http({"url": URL, "body": "a=1&b=2"})

    assert checked["body"] == "a=1&b=2"
    assert "json" not in checked


@pytest.mark.parametrize("url", ["http://example.com", "https://example.com/x", "HTTPS://EX.COM"])
def test_http_accepts_http_and_https_urls(url: str) -> None:
    assert validate_http({"url": url})["url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com",
        "example.com/hook",
        "//example.com/hook",
        "https://",
        "http:///path-only",
        "mailto:ops@example.com",
    ],
)
def test_http_refuses_other_schemes_and_relative_urls(url: str) -> None:
    error = assert_invalid(lambda: validate_http({"url": url}), "url")
    assert error.message == "expected an absolute http or https URL"


def test_http_refuses_a_bad_port() -> None:
    error = assert_invalid(lambda: validate_http({"url": "https://example.com:99999/"}), "url")
    assert error.message == "invalid port"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "required"),
        ({"url": None}, "required"),
        ({"url": ""}, "must not be empty"),
        ({"url": "   "}, "must not be empty"),
        ({"url": 5}, "expected a string"),
        ({"url": ["https://example.com"]}, "expected a string"),
        ({"url": "https://example.com/" + "a" * 8192}, "at most 8192 characters"),
    ],
)
def test_http_url_is_a_required_string(payload: dict[str, Any], message: str) -> None:
    error = assert_invalid(lambda: validate_http(payload), "url")
    assert error.message == message


@pytest.mark.parametrize(
    ("method", "expected"),
    [("get", "GET"), ("Post", "POST"), ("delete", "DELETE"), ("PATCH", "PATCH")],
)
def test_http_method_is_normalised_to_upper_case(method: str, expected: str) -> None:
    assert validate_http({"url": URL, "method": method})["method"] == expected


@pytest.mark.parametrize("method", sorted(HTTP_METHODS))
def test_http_accepts_every_listed_method(method: str) -> None:
    assert validate_http({"url": URL, "method": method})["method"] == method


def test_http_methods_are_the_usual_seven() -> None:
    assert set(HTTP_METHODS) == {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FETCH", "GET ", "G-E-T", "POST\r\n"])
def test_http_refuses_other_methods(method: str) -> None:
    error = assert_invalid(lambda: validate_http({"url": URL, "method": method}), "method")
    assert error.message == "expected one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


@pytest.mark.parametrize("method", [5, True, ["GET"]])
def test_http_method_must_be_a_string(method: Any) -> None:
    error = assert_invalid(lambda: validate_http({"url": URL, "method": method}), "method")
    assert error.message == "expected a string"


def test_http_refuses_an_empty_method() -> None:
    assert_invalid(lambda: validate_http({"url": URL, "method": ""}), "method")


@pytest.mark.parametrize(
    "payload",
    [
        {"url": URL, "json": {"a": 1}, "body": "a=1"},
        {"url": URL, "json": None, "body": "a=1"},
        {"url": URL, "json": {}, "body": ""},
    ],
)
def test_http_json_and_body_are_exclusive(payload: dict[str, Any]) -> None:
    error = assert_invalid(lambda: validate_http(payload), "body")
    assert error.message == "give json or body, not both"


@pytest.mark.parametrize("body", [5, {"a": 1}, ["a"], True])
def test_http_body_must_be_a_string(body: Any) -> None:
    error = assert_invalid(lambda: validate_http({"url": URL, "body": body}), "body")
    assert error.message == "expected a string"


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({"X-Count": 1}, "headers.X-Count"),
        ({"A": "ok", "B": None}, "headers.B"),
        ({"A": ["x"]}, "headers.A"),
        ({"A": True}, "headers.A"),
    ],
)
def test_http_header_values_must_be_strings(headers: dict[str, Any], path: str) -> None:
    error = assert_invalid(lambda: validate_http({"url": URL, "headers": headers}), path)
    assert error.message == "expected a string"


@pytest.mark.parametrize("headers", ["X-A: 1", ["X-A", "1"], 5, True])
def test_http_headers_must_be_an_object(headers: Any) -> None:
    error = assert_invalid(lambda: validate_http({"url": URL, "headers": headers}), "headers")
    assert error.message == "expected an object"


@pytest.mark.parametrize(
    ("headers", "path", "message"),
    [
        ({"Authorization": "Bearer sk_live_SECRET\n"}, "headers.Authorization", "no CR, LF"),
        ({"X-A": "a\rb"}, "headers.X-A", "no CR, LF"),
        ({"X-A": "a\x00b"}, "headers.X-A", "no CR, LF"),
        ({"X-A": "x" * 8193}, "headers.X-A", "at most 8192"),
        ({"X-A": "caf\u20ac"}, "headers.X-A", "control"),
        ({"Bad Name": "x"}, "headers.Bad Name", "token"),
        ({"X:A": "x"}, "headers.X:A", "token"),
        ({"": "x"}, "headers.", "token"),
        ({"Host": "internal"}, "headers.Host", "set by the worker"),
        ({"content-length": "0"}, "headers.content-length", "set by the worker"),
        ({"Transfer-Encoding": "chunked"}, "headers.Transfer-Encoding", "set by the worker"),
        ({"CONNECTION": "close"}, "headers.CONNECTION", "set by the worker"),
    ],
)
def test_http_headers_are_checked_at_submit_without_echoing_values(
    headers: dict[str, str], path: str, message: str
) -> None:
    """M8: names are tokens, values carry no CR/LF/NUL, framing headers are refused, and
    the error names the header but never shows its value."""
    error = assert_invalid(lambda: validate_http({"url": URL, "headers": headers}), path)
    assert message in error.message
    for value in headers.values():
        if value:
            assert value not in str(error)
    assert "SECRET" not in str(error)


def test_http_header_names_and_values_that_are_fine() -> None:
    headers = {"Authorization": "Bearer abc", "X-Tab": "a\tb", "X-Latin": "caf\u00e9"}
    assert validate_http({"url": URL, "headers": headers})["headers"] == headers


@pytest.mark.parametrize("headers", [[], "", False, 0])
def test_http_empty_non_object_headers_are_refused(headers: Any) -> None:
    assert_invalid(lambda: validate_http({"url": URL, "headers": headers}), "headers")


@pytest.mark.parametrize(("value", "expected"), [(0.1, 0.1), (1, 1.0), (30, 30.0), (3600, 3600.0)])
def test_http_timeout_within_bounds(value: float, expected: float) -> None:
    assert validate_http({"url": URL, "timeout_seconds": value})["timeout_seconds"] == expected


@pytest.mark.parametrize("value", [0, 0.09, -1, 3600.5, 3601])
def test_http_timeout_out_of_bounds(value: float) -> None:
    error = assert_invalid(
        lambda: validate_http({"url": URL, "timeout_seconds": value}), "timeout_seconds"
    )
    assert error.message == "must be between 0.1 and 3600"


@pytest.mark.parametrize("value", [True, "30", None, [30]])
def test_http_timeout_must_be_a_number(value: Any) -> None:
    error = assert_invalid(
        lambda: validate_http({"url": URL, "timeout_seconds": value}), "timeout_seconds"
    )
    assert error.message == "expected a number"


@pytest.mark.parametrize("field", ["data", "params", "URL", "timeout"])
def test_http_rejects_unknown_fields(field: str) -> None:
    error = assert_invalid(lambda: validate_http({"url": URL, field: 1}), field)
    assert error.message == "unknown field"


# --- email ----------------------------------------------------------------------------------


def test_email_minimal() -> None:
    assert validate_email({"to": ["ops@example.com"], "subject": "Weekly report"}) == {
        "to": ["ops@example.com"],
        "subject": "Weekly report",
        "body": "",
    }


def test_email_keeps_body_and_has_no_sender() -> None:
    checked = validate_email(
        {"to": ["a@example.com", "b@example.org"], "subject": "Hi", "body": "line 1\nline 2"}
    )

    assert checked == {
        "to": ["a@example.com", "b@example.org"],
        "subject": "Hi",
        "body": "line 1\nline 2",
    }


def test_email_from_is_the_operators_not_the_jobs() -> None:
    """H6: the payload has no `from`; a job that gives one is refused by name."""
    assert_invalid(
        lambda: validate_email({"to": ["a@example.com"], "subject": "s", "from": "ceo@op.example"}),
        "from",
    )


def test_email_recipients_are_capped_at_50() -> None:
    """H6: at most 50 recipients a message."""
    validate_email({"to": [f"a{n}@example.com" for n in range(50)], "subject": "s"})
    assert_invalid(
        lambda: validate_email({"to": [f"a{n}@example.com" for n in range(51)], "subject": "s"}),
        "to",
    )


@pytest.mark.parametrize("to", [None, [], "ops@example.com", {"a": "ops@example.com"}, 5])
def test_email_to_is_a_non_empty_list(to: Any) -> None:
    payload = {"subject": "s"} if to is None else {"to": to, "subject": "s"}
    error = assert_invalid(lambda: validate_email(payload), "to")
    # A missing field is "required", as every missing field is.
    assert error.message == ("required" if to is None else "expected a non-empty list of strings")


@pytest.mark.parametrize(
    ("to", "path"),
    [
        (["not-an-address"], "to[0]"),
        (["@example.com"], "to[0]"),
        (["ops@"], "to[0]"),
        (["a@example.com", "b c@example.com"], "to[1]"),
        (["a@example.com", "b@example.com, c@example.com"], "to[1]"),
        (["a@example.com;b@example.com"], "to[0]"),
        (["<a@example.com>"], "to[0]"),
        (["a@example.com\r\nBcc: victim@example.org"], "to[0]"),
        (["a@example.com", "b@example.com", "x"], "to[2]"),
    ],
)
def test_email_to_entries_must_be_addresses(to: list[str], path: str) -> None:
    error = assert_invalid(lambda: validate_email({"to": to, "subject": "s"}), path)
    assert error.message == "expected an email address"


def test_email_to_entries_must_be_strings() -> None:
    error = assert_invalid(
        lambda: validate_email({"to": ["a@example.com", 5], "subject": "s"}), "to[1]"
    )
    assert error.message == "expected a string"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"to": ["a@example.com"]}, "required"),
        ({"to": ["a@example.com"], "subject": ""}, "must not be empty"),
        ({"to": ["a@example.com"], "subject": 5}, "expected a string"),
        ({"to": ["a@example.com"], "subject": "a\nBcc: x@example.org"}, "must be a single line"),
        ({"to": ["a@example.com"], "subject": "a\rb"}, "must be a single line"),
        ({"to": ["a@example.com"], "subject": "s" * 999}, "at most 998 characters"),
    ],
)
def test_email_subject_is_one_required_line(payload: dict[str, Any], message: str) -> None:
    error = assert_invalid(lambda: validate_email(payload), "subject")
    assert error.message == message


def test_email_subject_of_998_characters_is_accepted() -> None:
    assert validate_email({"to": ["a@example.com"], "subject": "s" * 998})["subject"] == "s" * 998


@pytest.mark.parametrize("field", ["cc", "bcc", "html", "To"])
def test_email_rejects_unknown_fields(field: str) -> None:
    error = assert_invalid(
        lambda: validate_email({"to": ["a@example.com"], "subject": "s", field: "x"}), field
    )
    assert error.message == "unknown field"


# --- shell ----------------------------------------------------------------------------------


def test_shell_minimal() -> None:
    assert validate_shell({"argv": ["echo", "hello world"]}) == {
        "argv": ["echo", "hello world"],
        "env": {},
    }


def test_shell_keeps_env_and_cwd() -> None:
    assert validate_shell({"argv": ["make"], "env": {"CI": "1"}, "cwd": "/srv/app"}) == {
        "argv": ["make"],
        "env": {"CI": "1"},
        "cwd": "/srv/app",
    }


@pytest.mark.parametrize("argv", [None, [], "echo hi", {"0": "echo"}, 5])
def test_shell_argv_is_a_non_empty_list(argv: Any) -> None:
    payload = {} if argv is None else {"argv": argv}
    error = assert_invalid(lambda: validate_shell(payload), "argv")
    assert error.message == ("required" if argv is None else "expected a non-empty list of strings")


@pytest.mark.parametrize(
    ("argv", "path"),
    [(["echo", 1], "argv[1]"), ([None], "argv[0]"), (["a", "b", ["c"]], "argv[2]")],
)
def test_shell_argv_items_are_strings(argv: list[Any], path: str) -> None:
    error = assert_invalid(lambda: validate_shell({"argv": argv}), path)
    assert error.message == "expected a string"


def test_shell_env_values_are_strings() -> None:
    error = assert_invalid(lambda: validate_shell({"argv": ["x"], "env": {"N": 1}}), "env.N")
    assert error.message == "expected a string"


def test_shell_env_is_an_object() -> None:
    assert_invalid(lambda: validate_shell({"argv": ["x"], "env": ["A=1"]}), "env")


def test_shell_cwd_is_a_string() -> None:
    assert_invalid(lambda: validate_shell({"argv": ["x"], "cwd": 5}), "cwd")


def test_shell_rejects_unknown_fields() -> None:
    error = assert_invalid(lambda: validate_shell({"argv": ["x"], "command": "rm"}), "command")
    assert error.message == "unknown field"


# --- sleep, noop, fail ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [({}, 0.0), ({"seconds": 0}, 0.0), ({"seconds": 1.5}, 1.5), ({"seconds": 86400}, 86400.0)],
)
def test_sleep_seconds_within_0_to_86400(payload: dict[str, Any], expected: float) -> None:
    assert validate_sleep(payload) == {"seconds": expected}


@pytest.mark.parametrize("seconds", [-1, -0.001, 86400.5, 86401])
def test_sleep_seconds_out_of_range(seconds: float) -> None:
    error = assert_invalid(lambda: validate_sleep({"seconds": seconds}), "seconds")
    assert error.message == "must be between 0 and 86400"


@pytest.mark.parametrize("seconds", [True, "5", [5], {"s": 5}])
def test_sleep_seconds_must_be_a_number(seconds: Any) -> None:
    error = assert_invalid(lambda: validate_sleep({"seconds": seconds}), "seconds")
    assert error.message == "expected a number"


def test_sleep_rejects_unknown_fields() -> None:
    assert_invalid(lambda: validate_sleep({"seconds": 1, "minutes": 1}), "minutes")


def test_noop_accepts_only_an_empty_payload() -> None:
    assert validate_noop({}) == {}


@pytest.mark.parametrize("field", ["x", "seconds", "message", "url"])
def test_noop_rejects_any_field(field: str) -> None:
    error = assert_invalid(lambda: validate_noop({field: None}), field)
    assert error.message == "unknown field"


def test_fail_has_a_default_message() -> None:
    assert validate_fail({}) == {"message": "failed on purpose"}


def test_fail_keeps_its_message() -> None:
    assert validate_fail({"message": "boom"}) == {"message": "boom"}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"message": 5}, "message"),
        ({"message": "m" * 4097}, "message"),
        ({"message": "x", "kind": "timeout"}, "kind"),
    ],
)
def test_fail_rejects_bad_payloads(payload: dict[str, Any], path: str) -> None:
    assert_invalid(lambda: validate_fail(payload), path)


def test_fail_message_of_4096_characters_is_accepted() -> None:
    assert validate_fail({"message": "m" * 4096}) == {"message": "m" * 4096}


def test_validators_do_not_modify_their_input() -> None:
    payload = {"url": URL, "method": "get", "headers": {"A": "1"}}
    snapshot = {"url": URL, "method": "get", "headers": {"A": "1"}}

    checked = validate_http(payload)
    checked["headers"]["B"] = "2"

    assert payload == snapshot
