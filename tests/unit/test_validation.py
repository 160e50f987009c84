"""Submit bodies, schedules and times, against the tables of API.md. Pure: ``now`` is fixed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared import jobtypes
from shared.clock import FixedClock, format_time
from shared.errors import Forbidden, ValidationError
from shared.jobs import JobSpec
from shared.recurrence import Schedule
from shared.validation import (
    parse_email,
    parse_password,
    parse_schedule,
    parse_submit,
    parse_time,
    parse_username,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
BUILTIN_TYPES = ("email", "fail", "http", "noop", "shell", "sleep")


def submit(
    body: Any, *, is_admin: bool = False, shell_enabled: bool = False, prefix: str = ""
) -> JobSpec:
    return parse_submit(body, NOW, is_admin=is_admin, shell_enabled=shell_enabled, prefix=prefix)


def noop(**fields: Any) -> dict[str, Any]:
    return {"type": "noop", **fields}


def with_schedule(**schedule: Any) -> dict[str, Any]:
    return noop(schedule=schedule)


def assert_invalid(call: Callable[[], object], path: str) -> ValidationError:
    """``call`` raises a ValidationError whose field is ``path`` and whose text starts with it."""
    with pytest.raises(ValidationError) as caught:
        call()
    error = caught.value
    assert error.field == path
    assert str(error) == f"{path}: {error.message}"
    assert str(error).startswith(f"{path}: ")
    return error


# --- defaults -----------------------------------------------------------------------------


def test_minimal_body_gets_every_default() -> None:
    spec = submit({"type": "noop"})

    assert spec == JobSpec(
        name="noop",
        type="noop",
        payload={},
        queue="default",
        priority=0,
        schedule=Schedule(run_at=NOW, timezone="UTC"),
        first_due=NOW,
        max_attempts=1,
        retry_backoff_seconds=30,
        timeout_seconds=3600,
        misfire_policy="run_once",
        overlap_policy="forbid",
    )
    assert spec.schedule.recurring is False


def test_name_defaults_to_the_type() -> None:
    assert submit({"type": "sleep", "payload": {"seconds": 1}}).name == "sleep"
    assert submit({"type": "fail"}).name == "fail"


def test_omitted_schedule_runs_once_now() -> None:
    spec = submit({"type": "noop"})

    assert spec.first_due == NOW
    assert spec.schedule.run_at == NOW
    assert spec.schedule.repeat is None
    assert spec.schedule.interval_seconds is None
    assert spec.schedule.cron is None
    assert spec.schedule.end_at is None
    assert spec.schedule.max_runs is None


def test_null_optional_fields_mean_their_defaults() -> None:
    spec = submit(
        {
            "type": "noop",
            "name": None,
            "payload": None,
            "queue": None,
            "priority": None,
            "schedule": None,
            "max_attempts": None,
            "retry_backoff_seconds": None,
            "timeout_seconds": None,
            "misfire_policy": None,
            "overlap_policy": None,
        }
    )

    assert spec == submit({"type": "noop"})


def test_the_example_body_of_api_md_is_valid() -> None:
    body = {
        "name": "weekly-report",
        "type": "http",
        "payload": {
            "url": "https://reports.internal/run",
            "method": "POST",
            "json": {"week": "current"},
        },
        "queue": "default",
        "priority": 0,
        "schedule": {
            "run_at": "2026-12-01T09:00:00+01:00",
            "repeat": "weekly",
            "timezone": "Europe/Berlin",
            "end_at": None,
            "max_runs": None,
        },
        "max_attempts": 3,
        "retry_backoff_seconds": 30,
        "timeout_seconds": 300,
        "misfire_policy": "run_once",
        "overlap_policy": "forbid",
    }

    spec = submit(body)

    first = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert spec == JobSpec(
        name="weekly-report",
        type="http",
        payload={
            "url": "https://reports.internal/run",
            "method": "POST",
            "headers": {},
            "timeout_seconds": 30.0,
            "json": {"week": "current"},
        },
        queue="default",
        priority=0,
        schedule=Schedule(run_at=first, repeat="weekly", timezone="Europe/Berlin"),
        first_due=first,
        max_attempts=3,
        retry_backoff_seconds=30,
        timeout_seconds=300,
        misfire_policy="run_once",
        overlap_policy="forbid",
    )
    assert spec.schedule.recurring is True


def test_every_field_given_is_kept() -> None:
    spec = submit(
        {
            "name": "nightly",
            "type": "sleep",
            "payload": {"seconds": 2},
            "queue": "default",
            "priority": 9,
            "max_attempts": 5,
            "retry_backoff_seconds": 0,
            "timeout_seconds": 60,
            "misfire_policy": "run_all",
            "overlap_policy": "replace",
        }
    )

    assert (spec.name, spec.type, spec.payload, spec.queue, spec.priority) == (
        "nightly",
        "sleep",
        {"seconds": 2.0},
        "default",
        9,
    )
    assert (spec.max_attempts, spec.retry_backoff_seconds, spec.timeout_seconds) == (5, 0, 60)
    assert (spec.misfire_policy, spec.overlap_policy) == ("run_all", "replace")
    assert type(spec.misfire_policy) is str
    assert type(spec.overlap_policy) is str


# --- the submit-body table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("priority", 0, 0),
        ("priority", 9, 9),
        ("max_attempts", 1, 1),
        ("max_attempts", 100, 100),
        ("timeout_seconds", 1, 1),
        ("timeout_seconds", 86400, 86400),
        ("retry_backoff_seconds", 0, 0),
        ("retry_backoff_seconds", 86400, 86400),
    ],
)
def test_integer_fields_accept_their_bounds(field: str, value: int, expected: int) -> None:
    assert getattr(submit(noop(**{field: value})), field) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", -1),
        ("priority", 10),
        ("max_attempts", 0),
        ("max_attempts", 101),
        ("timeout_seconds", 0),
        ("timeout_seconds", 86401),
        ("retry_backoff_seconds", -1),
        ("retry_backoff_seconds", 86401),
    ],
)
def test_integer_fields_reject_values_out_of_range(field: str, value: int) -> None:
    error = assert_invalid(lambda: submit(noop(**{field: value})), field)
    assert error.message.startswith("must be between")


@pytest.mark.parametrize(
    "field", ["priority", "max_attempts", "timeout_seconds", "retry_backoff_seconds"]
)
@pytest.mark.parametrize("value", [True, False, 2.5, "3", [1], {"n": 1}])
def test_integer_fields_reject_booleans_fractions_and_strings(field: str, value: Any) -> None:
    error = assert_invalid(lambda: submit(noop(**{field: value})), field)
    assert error.message == "expected an integer"


def test_integer_fields_accept_whole_floats_as_json_schema_does() -> None:
    spec = submit(noop(priority=3.0, max_attempts=2.0))
    assert (spec.priority, spec.max_attempts) == (3, 2)
    assert isinstance(spec.priority, int)


@pytest.mark.parametrize("name", ["x", "a" * 200, "weekly report ✓"])
def test_name_accepts_1_to_200_characters(name: str) -> None:
    assert submit(noop(name=name)).name == name


@pytest.mark.parametrize("name", ["", "a" * 201, 5, True, ["x"], {"x": 1}])
def test_name_rejects_empty_long_and_non_strings(name: Any) -> None:
    assert_invalid(lambda: submit(noop(name=name)), "name")


@pytest.mark.parametrize("queue", ["default", "a", "0", "a" * 64, "emails_high-2"])
def test_queue_accepts_the_pattern(queue: str) -> None:
    spec = parse_submit(
        noop(queue=queue), NOW, is_admin=False, shell_enabled=False, queues=(queue, "other")
    )
    assert spec.queue == queue


def test_queue_must_be_one_of_the_deployments_queues() -> None:
    """H3: a queue outside CHRONOS_QUEUES is refused, naming the known ones."""
    with pytest.raises(ValidationError) as caught:
        parse_submit(
            noop(queue="nobody-home"),
            NOW,
            is_admin=False,
            shell_enabled=False,
            queues=("default", "reports"),
        )
    assert str(caught.value) == (
        "queue: unknown queue 'nobody-home'; expected one of default, reports"
    )
    with pytest.raises(ValidationError) as caught:
        submit(noop(queue="reports"), prefix="jobs[2]")
    assert str(caught.value).startswith("jobs[2].queue: unknown queue 'reports'")
    assert submit(noop()).queue == "default"


@pytest.mark.parametrize(
    "queue", ["", "a" * 65, "Default", "a.b", "a b", "a/b", "émails", "abc\n", 5, True, ["a"]]
)
def test_queue_rejects_anything_outside_the_pattern(queue: Any) -> None:
    assert_invalid(lambda: submit(noop(queue=queue)), "queue")


@pytest.mark.parametrize("policy", ["run_once", "skip", "run_all"])
def test_misfire_policy_accepts_its_three_values(policy: str) -> None:
    assert submit(noop(misfire_policy=policy)).misfire_policy == policy


@pytest.mark.parametrize("policy", ["allow", "forbid", "replace"])
def test_overlap_policy_accepts_its_three_values(policy: str) -> None:
    assert submit(noop(overlap_policy=policy)).overlap_policy == policy


@pytest.mark.parametrize("value", ["RUN_ONCE", "never", "", 0, True, ["skip"], {"a": 1}])
def test_misfire_policy_rejects_other_values(value: Any) -> None:
    error = assert_invalid(lambda: submit(noop(misfire_policy=value)), "misfire_policy")
    assert error.message == "expected one of run_once, skip, run_all"


@pytest.mark.parametrize("value", ["Forbid", "queue", "", 1, False])
def test_overlap_policy_rejects_other_values(value: Any) -> None:
    error = assert_invalid(lambda: submit(noop(overlap_policy=value)), "overlap_policy")
    assert error.message == "expected one of allow, forbid, replace"


@pytest.mark.parametrize("payload", [[], "x", 5, True, [{"seconds": 1}]])
def test_payload_must_be_an_object(payload: Any) -> None:
    error = assert_invalid(lambda: submit(noop(payload=payload)), "payload")
    assert error.message == "expected an object"


def test_payload_errors_are_named_inside_payload() -> None:
    assert_invalid(lambda: submit(noop(payload={"x": 1})), "payload.x")
    assert_invalid(
        lambda: submit({"type": "http", "payload": {"url": "ftp://example.com"}}), "payload.url"
    )
    assert_invalid(
        lambda: submit({"type": "email", "payload": {"to": ["a@b.c", 5], "subject": "s"}}),
        "payload.to[1]",
    )
    assert_invalid(
        lambda: submit({"type": "http", "payload": {"url": "https://x.y", "headers": {"H": 1}}}),
        "payload.headers.H",
    )


def test_payload_is_the_validators_normalised_output() -> None:
    spec = submit({"type": "http", "payload": {"url": "https://example.com", "method": "get"}})

    assert spec.payload == {
        "url": "https://example.com",
        "method": "GET",
        "headers": {},
        "timeout_seconds": 30.0,
    }


@pytest.mark.parametrize("field", ["colour", "Name", "run_at", "owner_id", "status", "type "])
def test_unknown_top_level_fields_are_rejected_by_name(field: str) -> None:
    error = assert_invalid(lambda: submit(noop(**{field: 1})), field)
    assert error.message == "unknown field"


@pytest.mark.parametrize("body", [[], "noop", 5, None, True, [{"type": "noop"}]])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        submit(body)
    assert caught.value.field == ""
    assert str(caught.value) == "the body must be a JSON object"


# --- type -----------------------------------------------------------------------------------


def test_unknown_type_is_a_validation_error_on_type() -> None:
    error = assert_invalid(lambda: submit({"type": "teleport"}), "type")

    assert error.message.startswith("unknown job type 'teleport'; expected one of ")
    for name in BUILTIN_TYPES:
        assert name in error.message


@pytest.mark.parametrize("value", [None, "", 5, True, ["noop"], {"name": "noop"}])
def test_missing_or_non_string_type_is_required(value: Any) -> None:
    body: dict[str, Any] = {} if value is None else {"type": value}
    error = assert_invalid(lambda: submit(body), "type")
    assert error.message.startswith("required: one of ")


def test_an_enormous_unknown_type_is_cut_in_the_message() -> None:
    error = assert_invalid(lambda: submit({"type": "x" * 10_000}), "type")

    assert "x" * 64 in error.message
    assert "x" * 65 not in error.message


def test_type_names_are_case_sensitive() -> None:
    assert_invalid(lambda: submit({"type": "NOOP"}), "type")


@pytest.mark.parametrize("name", ["http", "email", "sleep", "noop", "fail"])
def test_every_builtin_type_but_shell_is_open_to_users(name: str) -> None:
    payloads: dict[str, dict[str, Any]] = {
        "http": {"url": "https://example.com"},
        "email": {"to": ["ops@example.com"], "subject": "hi"},
        "sleep": {"seconds": 1},
        "noop": {},
        "fail": {},
    }
    spec = submit({"type": name, "payload": payloads[name]}, is_admin=False, shell_enabled=False)
    assert spec.type == name


SHELL = {"type": "shell", "payload": {"argv": ["echo", "hi"]}}


def test_shell_is_forbidden_for_a_user_even_when_enabled() -> None:
    with pytest.raises(Forbidden) as caught:
        submit(SHELL, is_admin=False, shell_enabled=True)
    assert str(caught.value) == "type: only admins may submit shell jobs"
    assert not isinstance(caught.value, ValidationError)


@pytest.mark.parametrize("is_admin", [True, False])
def test_shell_is_forbidden_when_disabled(is_admin: bool) -> None:
    with pytest.raises(Forbidden) as caught:
        submit(SHELL, is_admin=is_admin, shell_enabled=False)
    assert str(caught.value).startswith("type: ")
    assert "CHRONOS_ENABLE_SHELL_JOBS" in str(caught.value)


def test_shell_is_allowed_for_an_admin_when_enabled() -> None:
    spec = submit(SHELL, is_admin=True, shell_enabled=True)

    assert spec.type == "shell"
    assert spec.name == "shell"
    assert spec.payload == {"argv": ["echo", "hi"], "env": {}}


def test_shell_payload_is_still_validated_for_an_admin() -> None:
    assert_invalid(
        lambda: submit(
            {"type": "shell", "payload": {"argv": []}}, is_admin=True, shell_enabled=True
        ),
        "payload.argv",
    )


# --- the schedule table ---------------------------------------------------------------------


def test_run_at_in_the_future_is_the_first_occurrence() -> None:
    spec = submit(with_schedule(run_at="2026-12-01T09:00:00Z"))

    assert spec.first_due == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert spec.schedule.run_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert spec.schedule.recurring is False


def test_run_at_with_an_offset_is_converted_to_utc() -> None:
    spec = submit(with_schedule(run_at="2026-12-01T09:00:00+01:00"))

    assert spec.first_due == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert spec.first_due.utcoffset() == timedelta(0)


def test_run_at_without_an_offset_is_refused() -> None:
    error = assert_invalid(
        lambda: submit(with_schedule(run_at="2026-12-01T09:00:00")), "schedule.run_at"
    )
    assert "offset" in error.message


def test_run_at_four_minutes_in_the_past_is_accepted() -> None:
    spec = submit(with_schedule(run_at="2026-11-28T09:56:00Z"))

    assert spec.first_due == datetime(2026, 11, 28, 9, 56, tzinfo=UTC)


def test_run_at_exactly_five_minutes_in_the_past_is_accepted() -> None:
    spec = submit(with_schedule(run_at="2026-11-28T09:55:00Z"))

    assert spec.first_due == NOW - timedelta(minutes=5)


@pytest.mark.parametrize(
    "run_at", ["2026-11-28T09:54:59Z", "2026-11-28T09:54:59.999+00:00", "2020-01-01T00:00:00Z"]
)
def test_run_at_more_than_five_minutes_in_the_past_is_refused(run_at: str) -> None:
    error = assert_invalid(lambda: submit(with_schedule(run_at=run_at)), "schedule.run_at")
    assert "5 minutes in the past" in error.message


def test_past_is_measured_against_the_given_now_not_the_clock() -> None:
    later = NOW + timedelta(days=365)
    with pytest.raises(ValidationError):
        parse_schedule({"run_at": "2026-12-01T09:00:00Z"}, later)
    schedule, first = parse_schedule({"run_at": "2027-11-28T09:58:00Z"}, later)
    assert first == datetime(2027, 11, 28, 9, 58, tzinfo=UTC)
    assert schedule.run_at == first


@pytest.mark.parametrize("repeat", ["hourly", "daily", "weekly", "monthly"])
def test_repeat_accepts_its_four_values(repeat: str) -> None:
    spec = submit(with_schedule(run_at="2026-12-01T09:00:00Z", repeat=repeat))

    assert spec.schedule.repeat == repeat
    assert spec.schedule.recurring is True
    assert spec.first_due == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("repeat", ["yearly", "Daily", "", 5, True, ["daily"]])
def test_repeat_rejects_other_values(repeat: Any) -> None:
    error = assert_invalid(lambda: submit(with_schedule(repeat=repeat)), "schedule.repeat")
    assert error.message == "expected one of hourly, daily, weekly, monthly"


def test_repeat_without_run_at_starts_now() -> None:
    spec = submit(with_schedule(repeat="hourly"))

    assert spec.schedule.run_at == NOW
    assert spec.first_due == NOW


@pytest.mark.parametrize("seconds", [1, 60, 86400])
def test_interval_seconds_of_at_least_one_is_accepted(seconds: int) -> None:
    spec = submit(with_schedule(interval_seconds=seconds))

    assert spec.schedule.interval_seconds == seconds
    assert spec.first_due == NOW


@pytest.mark.parametrize("seconds", [0, -1])
def test_interval_seconds_below_one_is_refused(seconds: int) -> None:
    assert_invalid(
        lambda: submit(with_schedule(interval_seconds=seconds)), "schedule.interval_seconds"
    )


@pytest.mark.parametrize("seconds", [1.5, True, "60"])
def test_interval_seconds_must_be_an_integer(seconds: Any) -> None:
    error = assert_invalid(
        lambda: submit(with_schedule(interval_seconds=seconds)), "schedule.interval_seconds"
    )
    assert error.message == "expected an integer"


@pytest.mark.parametrize(
    ("fields", "second"),
    [
        ({"repeat": "daily", "interval_seconds": 60}, "interval_seconds"),
        ({"repeat": "daily", "cron": "0 9 * * *"}, "cron"),
        ({"interval_seconds": 60, "cron": "0 9 * * *"}, "cron"),
        ({"repeat": "daily", "interval_seconds": 60, "cron": "0 9 * * *"}, "interval_seconds"),
    ],
)
def test_only_one_of_repeat_interval_and_cron(fields: dict[str, Any], second: str) -> None:
    error = assert_invalid(lambda: submit(with_schedule(**fields)), f"schedule.{second}")
    assert error.message == "give only one of repeat, interval_seconds, cron"


def test_null_rules_do_not_count_as_given() -> None:
    spec = submit(with_schedule(repeat="daily", interval_seconds=None, cron=None))

    assert spec.schedule.repeat == "daily"


def test_cron_first_occurrence_is_the_first_match_after_now() -> None:
    spec = submit(with_schedule(cron="0 9 * * *"))

    assert spec.schedule.cron == "0 9 * * *"
    assert spec.first_due == datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def test_cron_is_read_in_its_timezone() -> None:
    spec = submit(with_schedule(cron="0 9 * * *", timezone="Europe/Berlin"))

    # 09:00 in Berlin in winter (CET, +01:00) is 08:00 UTC; 2026-11-28 09:00 CET has passed.
    assert spec.first_due == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def test_cron_with_three_fields_names_schedule_cron() -> None:
    error = assert_invalid(lambda: submit(with_schedule(cron="0 9 *")), "schedule.cron")
    assert str(error) == "schedule.cron: expected 5 fields, got 3"


@pytest.mark.parametrize(
    "cron", ["61 * * * *", "* 24 * * *", "@daily", "* * * * * *", "", "a b c d e", "*/0 * * * *"]
)
def test_bad_cron_expressions_name_schedule_cron(cron: str) -> None:
    assert_invalid(lambda: submit(with_schedule(cron=cron)), "schedule.cron")


@pytest.mark.parametrize("cron", [5, True, ["0", "9", "*", "*", "*"]])
def test_cron_must_be_a_string(cron: Any) -> None:
    error = assert_invalid(lambda: submit(with_schedule(cron=cron)), "schedule.cron")
    assert error.message == "expected a string"


def test_timezone_defaults_to_utc_and_accepts_iana_names() -> None:
    assert submit(with_schedule()).schedule.timezone == "UTC"
    assert submit(with_schedule(timezone="America/New_York")).schedule.timezone == (
        "America/New_York"
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Berln", "", "../../etc/passwd"])
def test_unknown_timezone_is_refused(zone: str) -> None:
    error = assert_invalid(lambda: submit(with_schedule(timezone=zone)), "schedule.timezone")
    assert "unknown time zone" in error.message


@pytest.mark.parametrize("zone", [5, True, ["UTC"]])
def test_timezone_must_be_a_string(zone: Any) -> None:
    assert_invalid(lambda: submit(with_schedule(timezone=zone)), "schedule.timezone")


def test_end_at_after_the_first_occurrence_is_kept() -> None:
    spec = submit(
        with_schedule(
            run_at="2026-12-01T09:00:00Z", repeat="daily", end_at="2026-12-31T09:00:00+01:00"
        )
    )

    assert spec.schedule.end_at == datetime(2026, 12, 31, 8, 0, tzinfo=UTC)
    assert spec.first_due == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_end_at_equal_to_the_first_occurrence_is_accepted() -> None:
    spec = submit(with_schedule(run_at="2026-12-01T09:00:00Z", end_at="2026-12-01T09:00:00Z"))

    assert spec.first_due == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_end_at_before_the_first_occurrence_is_refused() -> None:
    error = assert_invalid(
        lambda: submit(with_schedule(run_at="2026-12-01T09:00:00Z", end_at="2026-12-01T08:59:59Z")),
        "schedule.end_at",
    )
    assert "no occurrence" in error.message


def test_a_cron_whose_first_match_is_past_9999_is_refused_naming_run_at() -> None:
    """Review L2: croniter raised "year 10000 is out of range", and the submit was a 500."""
    error = assert_invalid(
        lambda: submit(
            with_schedule(run_at="9999-12-31T10:00:00Z", cron="0 0 * * *", timezone="Etc/GMT-14")
        ),
        "schedule.run_at",
    )
    assert "year 10000" in error.message


@pytest.mark.parametrize(
    "schedule",
    [
        {"run_at": "9999-12-31T23:59:59.999Z", "interval_seconds": 1},
        {"run_at": "9999-12-31T10:00:00Z", "repeat": "monthly", "timezone": "Etc/GMT-14"},
        {"run_at": "9999-12-31T10:00:00Z", "cron": "0 0 * * *", "timezone": "Etc/GMT+12"},
        {"run_at": "9999-12-31T23:59:59Z"},
    ],
)
def test_a_schedule_that_runs_out_at_9999_is_accepted(schedule: dict[str, Any]) -> None:
    assert submit(with_schedule(**schedule)).first_due.year == 9999


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("run_at", "9999-12-31T23:00:00-05:00"),
        ("end_at", "9999-12-31T23:00:00-14:00"),
        ("end_at", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_a_time_outside_what_python_holds_in_utc_is_refused_naming_it(
    field: str, value: str
) -> None:
    schedule = {"run_at": "2026-12-01T09:00:00Z", "repeat": "daily", field: value}
    assert_invalid(lambda: submit(with_schedule(**schedule)), f"schedule.{field}")


def test_end_at_is_compared_with_the_first_cron_match_not_with_now() -> None:
    # end_at is after now, but before the first 09:00 match (tomorrow).
    assert_invalid(
        lambda: submit(with_schedule(cron="0 9 * * *", end_at="2026-11-29T08:00:00Z")),
        "schedule.end_at",
    )


@pytest.mark.parametrize("end_at", ["2026-12-01T09:00:00", "never", 5])
def test_end_at_must_be_a_time_with_an_offset(end_at: Any) -> None:
    assert_invalid(lambda: submit(with_schedule(end_at=end_at)), "schedule.end_at")


@pytest.mark.parametrize("max_runs", [1, 10, 2**31 - 1])
def test_max_runs_of_at_least_one_is_kept(max_runs: int) -> None:
    assert submit(with_schedule(repeat="daily", max_runs=max_runs)).schedule.max_runs == max_runs


@pytest.mark.parametrize("max_runs", [0, -1, 2**31, 1.5, True, "3"])
def test_bad_max_runs_is_refused(max_runs: Any) -> None:
    assert_invalid(lambda: submit(with_schedule(max_runs=max_runs)), "schedule.max_runs")


@pytest.mark.parametrize("field", ["colour", "every", "tz", "runAt"])
def test_unknown_schedule_fields_are_rejected_by_name(field: str) -> None:
    error = assert_invalid(lambda: submit(with_schedule(**{field: 1})), f"schedule.{field}")
    assert error.message == "unknown field"


@pytest.mark.parametrize("schedule", [[], "daily", 5, True])
def test_schedule_must_be_an_object(schedule: Any) -> None:
    error = assert_invalid(lambda: submit(noop(schedule=schedule)), "schedule")
    assert error.message == "expected an object"


def test_parse_schedule_without_a_body_runs_now() -> None:
    schedule, first = parse_schedule(None, NOW)

    assert schedule == Schedule(run_at=NOW)
    assert first == NOW


def test_parse_schedule_with_an_empty_prefix_names_bare_fields() -> None:
    error = assert_invalid(lambda: parse_schedule({"cron": "0 9 *"}, NOW, prefix=""), "cron")
    assert str(error) == "cron: expected 5 fields, got 3"
    assert_invalid(lambda: parse_schedule({"when": 1}, NOW, prefix=""), "when")
    assert_invalid(lambda: parse_schedule({"run_at": "x"}, NOW, prefix=""), "run_at")


def test_parse_schedule_with_an_empty_prefix_accepts_a_bare_run_at() -> None:
    schedule, first = parse_schedule({"run_at": "2026-12-01T09:00:00+01:00"}, NOW, prefix="")

    assert first == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert schedule.recurring is False


# --- batch prefix ---------------------------------------------------------------------------


def test_prefix_names_the_index_of_a_batch_entry() -> None:
    error = assert_invalid(
        lambda: submit(with_schedule(cron="0 9 *"), prefix="jobs[3]"), "jobs[3].schedule.cron"
    )
    assert str(error) == "jobs[3].schedule.cron: expected 5 fields, got 3"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "noop", "colour": 1}, "jobs[17].colour"),
        ({"type": "noop", "priority": 10}, "jobs[17].priority"),
        ({"type": "teleport"}, "jobs[17].type"),
        ({"type": "noop", "payload": {"x": 1}}, "jobs[17].payload.x"),
        ({"type": "email", "payload": {"to": [1], "subject": "s"}}, "jobs[17].payload.to[0]"),
        ({"type": "noop", "schedule": {"timezone": "Nowhere"}}, "jobs[17].schedule.timezone"),
        ({"type": "noop", "misfire_policy": "x"}, "jobs[17].misfire_policy"),
        ([], "jobs[17]"),
    ],
)
def test_prefix_applies_to_every_error(body: Any, path: str) -> None:
    assert_invalid(lambda: submit(body, prefix="jobs[17]"), path)


def test_prefix_does_not_change_a_valid_result() -> None:
    assert submit(noop(name="n"), prefix="jobs[0]") == submit(noop(name="n"))


# --- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:00+00:00", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:00+01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:00-05:30", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01T00:30:00+02:00", datetime(2026, 11, 30, 22, 30, tzinfo=UTC)),
        ("2026-12-01T09:00:00.123456Z", datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_parse_time_converts_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text, "when")

    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_time_refuses_a_time_without_offset() -> None:
    error = assert_invalid(
        lambda: parse_time("2026-12-01T09:00:00", "schedule.run_at"), "schedule.run_at"
    )
    assert error.message == "the time has no offset; add Z or +HH:MM"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-12-01",
        "09:00:00Z",
        "2026-13-01T09:00:00Z",
        "2026-12-32T09:00:00Z",
        "2026-12-01T25:00:00Z",
        "2026-12-01T09:00:00+25:00",
        "2026-12-01 T 09:00Z",
        "2026-12-01T09:00:00Z" + " " * 60,
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_parse_time_refuses_garbage(text: str) -> None:
    assert_invalid(lambda: parse_time(text, "end_at"), "end_at")


@pytest.mark.parametrize("value", [None, 5, 1.5, True, [], {}, ["2026-12-01T09:00:00Z"]])
def test_parse_time_refuses_non_strings(value: Any) -> None:
    error = assert_invalid(lambda: parse_time(value, "x.y"), "x.y")
    assert error.message == "expected an RFC 3339 time string"


def test_format_time_answers_in_utc_with_milliseconds() -> None:
    moment = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))

    assert format_time(moment) == "2026-12-01T08:00:00.123Z"


def test_format_time_pads_and_truncates_milliseconds() -> None:
    assert format_time(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == "2026-12-01T09:00:00.000Z"
    assert format_time(datetime(2026, 12, 1, 9, 0, 0, 7000, tzinfo=UTC)) == (
        "2026-12-01T09:00:00.007Z"
    )
    assert format_time(datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == (
        "2026-12-31T23:59:59.999Z"
    )


def test_format_time_of_none_is_none() -> None:
    assert format_time(None) is None


def test_format_time_round_trips_parse_time() -> None:
    text = "2026-12-01T08:00:00.123Z"
    assert format_time(parse_time(text, "t")) == text
    assert format_time(parse_time("2026-12-01T09:00:00.123+01:00", "t")) == text


def test_fixed_clock_only_moves_when_told() -> None:
    clock = FixedClock(NOW)

    assert clock.now() == NOW
    assert clock.now() == NOW
    assert clock.advance(90) == NOW + timedelta(seconds=90)
    assert clock.now() == NOW + timedelta(seconds=90)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2027, 1, 1, tzinfo=UTC)


# --- users ----------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["abc", "a" * 64, "Alice_01", "j.doe-2", "___", "..."])
def test_parse_username_accepts_3_to_64_allowed_characters(username: str) -> None:
    assert parse_username(username) == username


@pytest.mark.parametrize(
    "username", ["ab", "a" * 65, "", "a b", "alice@x", "ålice", "abc\n", "a/b", 123, None, True]
)
def test_parse_username_refuses_the_rest(username: Any) -> None:
    assert_invalid(lambda: parse_username(username), "username")


def test_parse_username_names_the_field_given() -> None:
    assert_invalid(lambda: parse_username("x", "user.name"), "user.name")


@pytest.mark.parametrize("password", ["12345678", "p" * 1024, "correct horse battery staple"])
def test_parse_password_accepts_8_characters_or_more(password: str) -> None:
    assert parse_password(password) == password


@pytest.mark.parametrize("password", ["", "1234567", "p" * 1025, 12345678, None, ["password1"]])
def test_parse_password_refuses_short_long_and_non_strings(password: Any) -> None:
    assert_invalid(lambda: parse_password(password), "password")


def test_parse_email_is_optional() -> None:
    assert parse_email(None) is None


@pytest.mark.parametrize("email", ["ops@example.com", "a.b+c@mail.example.org"])
def test_parse_email_accepts_addresses(email: str) -> None:
    assert parse_email(email) == email


@pytest.mark.parametrize(
    "email",
    ["", "ops", "ops@", "@example.com", "ops@localhost", "o ps@example.com", "a@b.c\n", 5, True],
)
def test_parse_email_refuses_non_addresses(email: Any) -> None:
    assert_invalid(lambda: parse_email(email), "email")


def test_parse_email_refuses_more_than_320_characters() -> None:
    assert_invalid(lambda: parse_email("a" * 310 + "@example.com"), "email")


def test_builtin_types_are_registered() -> None:
    assert set(BUILTIN_TYPES) <= set(jobtypes.REGISTRY)
