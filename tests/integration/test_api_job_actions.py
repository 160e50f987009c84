"""Actions on a job: pause, resume, trigger, reschedule, run history and upcoming times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.helpers import (
    RUN_KEYS,
    TIME,
    assert_error,
    cancel_job,
    create_job,
    execute,
    later,
    parse,
    runs_of,
    sent,
    set_runs_queued,
    set_runs_running,
    zulu,
)


def get_job(client: Any, account: Any, job_id: str) -> dict[str, Any]:
    result = client.simulate_get(f"/jobs/{job_id}", headers=account.headers)
    assert result.status_code == 200, result.text
    return result.json


def action(client: Any, account: Any, job_id: str, verb: str) -> Any:
    return client.simulate_post(f"/jobs/{job_id}/{verb}", headers=account.headers)


def reschedule(client: Any, account: Any, job_id: str, body: Any) -> Any:
    return client.simulate_put(f"/jobs/{job_id}/reschedule", json=body, headers=account.headers)


def upcoming(client: Any, account: Any, job_id: str, **params: Any) -> Any:
    return client.simulate_get(f"/jobs/{job_id}/upcoming", params=params, headers=account.headers)


# --- pause / resume ---------------------------------------------------------------------------


def test_pause_holds_the_job_and_resume_brings_back_its_next_run(client, user):
    run_at = later(days=1)
    job = create_job(client, user, schedule={"run_at": sent(run_at), "repeat": "daily"})

    paused = action(client, user, job["id"], "pause")
    assert paused.status_code == 200, paused.text
    assert paused.json["id"] == job["id"]
    assert paused.json["status"] == "paused"
    assert paused.json["next_run_at"] is None
    assert get_job(client, user, job["id"])["status"] == "paused"

    resumed = action(client, user, job["id"], "resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json["status"] == "scheduled"
    assert resumed.json["next_run_at"] == zulu(run_at)
    assert get_job(client, user, job["id"])["next_run_at"] == zulu(run_at)


def test_pause_twice_is_ok(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    assert action(client, user, job["id"], "pause").status_code == 200
    again = action(client, user, job["id"], "pause")
    assert again.status_code == 200, again.text
    assert again.json["status"] == "paused"
    assert again.json["next_run_at"] is None


def test_pause_lets_a_running_run_go_on(client, user, engine):
    job = create_job(client, user, schedule={"interval_seconds": 600})
    set_runs_running(engine, job["id"])
    result = action(client, user, job["id"], "pause")
    assert result.status_code == 200, result.text
    assert result.json["status"] == "paused"
    states = [run["state"] for run in runs_of(client, user, job["id"]).json["items"]]
    assert "running" in states


def test_paused_job_keeps_its_pending_run(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    action(client, user, job["id"], "pause")
    items = runs_of(client, user, job["id"]).json["items"]
    assert [run["state"] for run in items] == ["pending"]


@pytest.mark.parametrize("verb", ["pause", "resume"])
def test_pause_or_resume_of_a_cancelled_job_is_a_conflict(client, user, verb):
    job = create_job(client, user)
    cancel_job(client, user, job["id"])
    assert_error(action(client, user, job["id"], verb), 409)
    assert get_job(client, user, job["id"])["status"] == "cancelled"


@pytest.mark.parametrize("verb", ["pause", "resume", "trigger"])
def test_actions_on_another_users_job_are_not_found(client, user, other_user, verb):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    assert_error(action(client, other_user, job["id"], verb), 404)
    assert get_job(client, user, job["id"])["status"] == "scheduled"
    assert len(runs_of(client, user, job["id"]).json["items"]) == 1


@pytest.mark.parametrize("verb", ["pause", "resume", "trigger"])
def test_actions_on_malformed_or_unknown_ids_are_not_found(client, user, verb):
    assert_error(action(client, user, "not-a-uuid", verb), 404)
    assert_error(action(client, user, str(uuid.uuid4()), verb), 404)


def test_admin_can_pause_another_users_job(client, user, admin):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    result = action(client, admin, job["id"], "pause")
    assert result.status_code == 200, result.text
    assert get_job(client, user, job["id"])["status"] == "paused"


# --- trigger ------------------------------------------------------------------------------------


def test_trigger_starts_an_extra_pending_run(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(days=1))})
    before = datetime.now(UTC)
    result = action(client, user, job["id"], "trigger")

    assert result.status_code == 202, result.text
    run = result.json
    assert set(run) == RUN_KEYS, set(run) ^ RUN_KEYS
    uuid.UUID(run["id"])
    assert run["job_id"] == job["id"]
    assert run["state"] == "pending"
    assert run["attempt"] == 1
    assert TIME.match(run["scheduled_for"])
    assert abs(parse(run["scheduled_for"]) - before) < timedelta(seconds=5)
    for key in ("queued_at", "started_at", "finished_at", "worker", "result", "error"):
        assert run[key] is None, key

    items = runs_of(client, user, job["id"]).json["items"]
    assert len(items) == 2
    assert items[0]["id"] == run["id"]
    assert get_job(client, user, job["id"])["status"] == "scheduled"


def test_trigger_a_cancelled_job_is_a_conflict(client, user):
    job = create_job(client, user)
    cancel_job(client, user, job["id"])
    assert_error(action(client, user, job["id"], "trigger"), 409)
    assert len(runs_of(client, user, job["id"]).json["items"]) == 1


# --- run history ------------------------------------------------------------------------------


def test_runs_are_listed_newest_first_and_paged(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(days=1))})
    first = action(client, user, job["id"], "trigger").json["id"]
    second = action(client, user, job["id"], "trigger").json["id"]

    page = runs_of(client, user, job["id"], limit=2)
    assert page.status_code == 200, page.text
    assert set(page.json) == {"items", "next_cursor"}
    assert [run["id"] for run in page.json["items"]] == [second, first]
    assert isinstance(page.json["next_cursor"], str)
    for run in page.json["items"]:
        assert set(run) == RUN_KEYS

    rest = runs_of(client, user, job["id"], limit=2, cursor=page.json["next_cursor"])
    assert rest.status_code == 200, rest.text
    assert len(rest.json["items"]) == 1
    assert rest.json["items"][0]["id"] not in {first, second}
    assert rest.json["items"][0]["scheduled_for"] == job["next_run_at"]
    assert rest.json["next_cursor"] is None


def test_runs_of_a_new_job_hold_one_pending_run(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=3))})
    result = runs_of(client, user, job["id"])
    assert result.status_code == 200, result.text
    assert result.json["next_cursor"] is None
    (run,) = result.json["items"]
    assert run["state"] == "pending"
    assert run["attempt"] == 1
    assert run["scheduled_for"] == job["next_run_at"]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5"])
def test_runs_bad_limit_is_rejected(client, user, limit):
    job = create_job(client, user)
    assert_error(runs_of(client, user, job["id"], limit=limit), 400, "limit")


def test_runs_bad_cursor_is_rejected(client, user):
    job = create_job(client, user)
    assert_error(runs_of(client, user, job["id"], cursor="not-a-cursor!"), 400, "cursor")


def test_runs_of_another_users_job_are_not_found(client, user, other_user):
    job = create_job(client, user)
    assert_error(runs_of(client, other_user, job["id"]), 404)
    assert_error(runs_of(client, user, "xyz"), 404)


# --- reschedule -------------------------------------------------------------------------------


def test_reschedule_with_run_at_moves_the_next_run(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    new_time = later(days=2)
    result = reschedule(client, user, job["id"], {"run_at": sent(new_time)})

    assert result.status_code == 200, result.text
    assert result.json["id"] == job["id"]
    assert result.json["next_run_at"] == zulu(new_time)
    assert result.json["schedule"]["run_at"] == zulu(new_time)
    assert result.json["status"] == "scheduled"
    items = runs_of(client, user, job["id"]).json["items"]
    pending = [run for run in items if run["state"] == "pending"]
    assert [run["scheduled_for"] for run in pending] == [zulu(new_time)]


def test_reschedule_with_a_schedule_object_replaces_the_schedule(client, user):
    job = create_job(client, user, schedule={"run_at": sent(later(hours=1))})
    result = reschedule(
        client,
        user,
        job["id"],
        {"run_at": "2027-03-01T00:00:00Z", "cron": "30 6 * * *", "timezone": "Asia/Tokyo"},
    )

    assert result.status_code == 200, result.text
    assert result.json["recurring"] is True
    assert result.json["schedule"]["cron"] == "30 6 * * *"
    assert result.json["schedule"]["timezone"] == "Asia/Tokyo"
    # 06:30 in Tokyo (UTC+9) is 21:30 UTC the day before.
    assert result.json["next_run_at"] == "2027-03-01T21:30:00.000Z"


def test_reschedule_recurring_job_to_one_off(client, user):
    job = create_job(client, user, schedule={"repeat": "daily"})
    new_time = later(hours=5)
    result = reschedule(client, user, job["id"], {"run_at": sent(new_time), "repeat": None})
    assert result.status_code == 200, result.text
    assert result.json["recurring"] is False
    assert result.json["schedule"]["repeat"] is None
    assert result.json["next_run_at"] == zulu(new_time)


def test_reschedule_recurring_job_with_only_run_at_keeps_its_cadence(client, user):
    job = create_job(
        client,
        user,
        schedule={"repeat": "weekly", "timezone": "Europe/Berlin", "max_runs": 5},
    )
    new_time = later(days=2)
    result = reschedule(client, user, job["id"], {"run_at": sent(new_time)})
    assert result.status_code == 200, result.text
    schedule = result.json["schedule"]
    assert (schedule["repeat"], schedule["timezone"], schedule["max_runs"]) == (
        "weekly",
        "Europe/Berlin",
        5,
    )
    assert result.json["recurring"] is True
    assert result.json["next_run_at"] == zulu(new_time)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "* * *"}, "cron"),
        ({"cron": "@daily"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"run_at": "2027-01-01T09:00:00"}, "run_at"),
        ({"repeat": "yearly"}, "repeat"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"foo": 1}, "foo"),
    ],
)
def test_reschedule_bad_schedule_is_rejected(client, user, body, field):
    run_at = later(hours=1)
    job = create_job(client, user, schedule={"run_at": sent(run_at)})
    assert_error(reschedule(client, user, job["id"], body), 400, field)
    assert get_job(client, user, job["id"])["next_run_at"] == zulu(run_at)


def test_reschedule_run_at_in_the_past_is_rejected(client, user):
    job = create_job(client, user)
    past = datetime.now(UTC) - timedelta(minutes=10)
    assert_error(reschedule(client, user, job["id"], {"run_at": sent(past)}), 400, "run_at")


@pytest.mark.parametrize("state", ["queued", "running"])
def test_reschedule_one_off_job_with_a_live_run_is_a_conflict(client, user, engine, state):
    job = create_job(client, user)
    if state == "queued":
        set_runs_queued(engine, job["id"])
    else:
        set_runs_running(engine, job["id"])
    result = reschedule(client, user, job["id"], {"run_at": sent(later(days=1))})
    assert_error(result, 409)


def test_reschedule_recurring_job_with_a_running_run_is_allowed(client, user, engine):
    job = create_job(client, user, schedule={"interval_seconds": 3600})
    set_runs_running(engine, job["id"])
    new_time = later(days=1)
    result = reschedule(
        client, user, job["id"], {"run_at": sent(new_time), "interval_seconds": 7200}
    )

    assert result.status_code == 200, result.text
    assert result.json["schedule"]["interval_seconds"] == 7200
    assert result.json["next_run_at"] == zulu(new_time)
    states = sorted(run["state"] for run in runs_of(client, user, job["id"]).json["items"])
    assert states == ["pending", "running"]


def test_reschedule_recurring_job_with_a_queued_run_is_allowed(client, user, engine):
    job = create_job(client, user, schedule={"repeat": "daily"})
    set_runs_queued(engine, job["id"])
    new_time = later(days=3)
    result = reschedule(client, user, job["id"], {"run_at": sent(new_time), "repeat": "weekly"})
    assert result.status_code == 200, result.text
    assert result.json["schedule"]["repeat"] == "weekly"
    assert result.json["next_run_at"] == zulu(new_time)
    states = sorted(run["state"] for run in runs_of(client, user, job["id"]).json["items"])
    assert states == ["pending", "queued"]


def test_reschedule_cancelled_one_off_job_schedules_it_again(client, user):
    job = create_job(client, user)
    cancel_job(client, user, job["id"])
    new_time = later(hours=6)
    result = reschedule(client, user, job["id"], {"run_at": sent(new_time)})

    assert result.status_code == 200, result.text
    assert result.json["status"] == "scheduled"
    assert result.json["next_run_at"] == zulu(new_time)
    items = runs_of(client, user, job["id"]).json["items"]
    pending = [run for run in items if run["state"] == "pending"]
    assert [run["scheduled_for"] for run in pending] == [zulu(new_time)]
    assert any(run["state"] == "cancelled" for run in items)


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_reschedule_finished_one_off_job_schedules_it_again(client, user, engine, outcome):
    job = create_job(client, user)
    execute(
        engine,
        "UPDATE runs SET state = :outcome, queued_at = now(), started_at = now(), "
        "heartbeat_at = now(), finished_at = now(), worker = 'host:1' WHERE job_id = :job",
        job=job["id"],
        outcome=outcome,
    )
    execute(
        engine,
        "UPDATE jobs SET status = :outcome, run_count = 1 WHERE id = :job",
        job=job["id"],
        outcome=outcome,
    )
    new_time = later(hours=6)
    result = reschedule(client, user, job["id"], {"run_at": sent(new_time)})

    assert result.status_code == 200, result.text
    assert result.json["status"] == "scheduled"
    assert result.json["next_run_at"] == zulu(new_time)


def test_reschedule_another_users_job_is_not_found(client, user, other_user):
    run_at = later(hours=1)
    job = create_job(client, user, schedule={"run_at": sent(run_at)})
    result = reschedule(client, other_user, job["id"], {"run_at": sent(later(days=1))})
    assert_error(result, 404)
    assert get_job(client, user, job["id"])["next_run_at"] == zulu(run_at)


def test_reschedule_malformed_id_is_not_found(client, user):
    assert_error(reschedule(client, user, "bad-id", {"run_at": sent(later(days=1))}), 404)


# --- upcoming -----------------------------------------------------------------------------------


def upcoming_times(client: Any, account: Any, schedule: dict[str, Any], count: int) -> list[str]:
    """Create a job on `schedule` and return its next `count` run times, which must be listed."""
    job = create_job(client, account, schedule=schedule)
    result = upcoming(client, account, job["id"], count=count)
    assert result.status_code == 200, result.text
    assert set(result.json) == {"items"}, result.json
    return result.json["items"]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        pytest.param(
            {"run_at": "2027-10-30T01:30:00+01:00", "repeat": "daily", "timezone": "Europe/London"},
            ["2027-10-30T00:30:00.000Z", "2027-10-31T00:30:00.000Z", "2027-11-01T01:30:00.000Z"],
            id="daily-across-the-london-autumn-change",
        ),
        pytest.param(
            {"run_at": "2027-01-30T09:00:00Z", "repeat": "monthly", "timezone": "UTC"},
            ["2027-01-30T09:00:00.000Z", "2027-02-28T09:00:00.000Z", "2027-03-30T09:00:00.000Z"],
            id="monthly-clamps-to-the-end-of-february",
        ),
        # Friday 09:00 CET, then (after the clocks go forward on Sunday) 09:00 CEST.
        pytest.param(
            {"run_at": "2027-03-26T00:00:00Z", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            ["2027-03-26T08:00:00.000Z", "2027-03-29T07:00:00.000Z", "2027-03-30T07:00:00.000Z"],
            id="cron-weekdays-in-berlin-across-spring-change",
        ),
        pytest.param(
            {"run_at": "2027-10-31T00:30:00Z", "repeat": "hourly", "timezone": "Europe/London"},
            ["2027-10-31T00:30:00.000Z", "2027-10-31T01:30:00.000Z", "2027-10-31T02:30:00.000Z"],
            id="hourly-follows-real-time",
        ),
        pytest.param(
            {"run_at": "2027-05-01T10:00:00Z", "interval_seconds": 90},
            ["2027-05-01T10:00:00.000Z", "2027-05-01T10:01:30.000Z", "2027-05-01T10:03:00.000Z"],
            id="interval",
        ),
    ],
)
def test_upcoming_times_follow_the_schedule(client, user, schedule, expected):
    assert upcoming_times(client, user, schedule, count=3) == expected


def test_upcoming_cron_weekdays_in_berlin_from_now(client, user):
    now = datetime.now(UTC)
    job = create_job(client, user, schedule={"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"})
    result = upcoming(client, user, job["id"], count=5)
    assert result.status_code == 200, result.text

    berlin = ZoneInfo("Europe/Berlin")
    expected: list[str] = []
    day = now.astimezone(berlin).date()
    while len(expected) < 5:
        moment = datetime.combine(day, time(9), tzinfo=berlin)
        if day.weekday() < 5 and moment > now:
            expected.append(zulu(moment))
        day += timedelta(days=1)
    assert result.json["items"] == expected
    assert job["next_run_at"] == expected[0]


def test_upcoming_respects_max_runs_and_end_at(client, user):
    capped = {"run_at": "2027-05-01T10:00:00Z", "repeat": "daily", "max_runs": 2}
    assert upcoming_times(client, user, capped, count=10) == [
        "2027-05-01T10:00:00.000Z",
        "2027-05-02T10:00:00.000Z",
    ]
    ended = {
        "run_at": "2027-05-01T10:00:00Z",
        "repeat": "daily",
        "end_at": "2027-05-03T11:00:00Z",
    }
    assert upcoming_times(client, user, ended, count=10) == [
        "2027-05-01T10:00:00.000Z",
        "2027-05-02T10:00:00.000Z",
        "2027-05-03T10:00:00.000Z",
    ]


def test_upcoming_default_count_is_ten_and_maximum_is_a_hundred(client, user):
    job = create_job(client, user, schedule={"interval_seconds": 60})
    default = upcoming(client, user, job["id"])
    assert default.status_code == 200, default.text
    assert len(default.json["items"]) == 10
    hundred = upcoming(client, user, job["id"], count=100)
    assert hundred.status_code == 200, hundred.text
    items = hundred.json["items"]
    assert len(items) == 100
    assert all(TIME.match(item) for item in items)
    assert items == sorted(items)
    assert len(set(items)) == 100


def test_upcoming_one_off_job_has_its_single_run(client, user):
    run_at = later(days=1)
    job = create_job(client, user, schedule={"run_at": sent(run_at)})
    assert upcoming(client, user, job["id"], count=5).json == {"items": [zulu(run_at)]}


def test_upcoming_cancelled_job_is_empty(client, user):
    job = create_job(client, user, schedule={"repeat": "daily"})
    cancel_job(client, user, job["id"])
    result = upcoming(client, user, job["id"], count=5)
    assert result.status_code == 200, result.text
    assert result.json == {"items": []}


@pytest.mark.parametrize("count", ["0", "101", "-3", "abc", "2.5", str(10**30)])
def test_upcoming_bad_count_is_rejected(client, user, count):
    job = create_job(client, user, schedule={"repeat": "daily"})
    assert_error(upcoming(client, user, job["id"], count=count), 400, "count")


def test_upcoming_of_another_users_job_is_not_found(client, user, other_user):
    job = create_job(client, user, schedule={"repeat": "daily"})
    assert_error(upcoming(client, other_user, job["id"]), 404)
    assert_error(upcoming(client, user, "garbage"), 404)
