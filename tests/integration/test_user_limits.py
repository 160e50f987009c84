"""Per-user limits (H2): live jobs, submits per minute, the shortest interval and the
highest priority. Each is tested at its boundary (N allowed, N + 1 refused), on every
route it applies to, with admins exempt, against a real database."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine, text

from api.app import create_app
from shared import lifecycle
from shared.clock import FixedClock
from shared.errors import TooManyRequests
from shared.limits import UserLimits
from shared.quotas import Quota
from shared.settings import Settings
from shared.validation import parse_submit
from tests.e2e.waiting import wait_for
from tests.integration.conftest import Account
from tests.integration.helpers import assert_error, cancel_job, execute, submit

MAX_LIVE = 3
PER_MINUTE = 5
# Above a minute, so that a cron (minute resolution) can be too frequent.
MIN_INTERVAL = 300
START = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def limited(settings: Settings, engine: Engine, clock: FixedClock) -> testing.TestClient:
    """The API with tight limits."""
    tight = replace(
        settings,
        max_live_jobs_per_user=MAX_LIVE,
        submits_per_minute=PER_MINUTE,
        min_interval_seconds=MIN_INTERVAL,
        max_user_priority=0,
    )
    return testing.TestClient(create_app(tight, clock=clock, engine=engine))


def batch(client: testing.TestClient, account: Account, jobs: list[dict[str, Any]]) -> Any:
    return client.simulate_post("/jobs/batch", json={"jobs": jobs}, headers=account.headers)


def noops(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"type": "noop", **fields} for _ in range(count)]


def created(result: Any) -> dict[str, Any]:
    assert result.status_code == 201, result.text
    return result.json  # type: ignore[no-any-return]


def future(hours: int = 1) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def finish(engine: Engine, job_id: str) -> None:
    """The job's run succeeded, as a worker would have recorded it."""
    execute(
        engine,
        "UPDATE runs SET state = 'succeeded', queued_at = now(), started_at = now(), "
        "heartbeat_at = now(), worker = 'host:1', finished_at = now() "
        "WHERE job_id = :job AND state = 'pending'",
        job=job_id,
    )
    execute(engine, "UPDATE jobs SET status = 'succeeded' WHERE id = :job", job=job_id)


# --- live jobs ------------------------------------------------------------------------------


def assert_live_limit(result: Any) -> None:
    description = assert_error(result, 429, "CHRONOS_MAX_LIVE_JOBS_PER_USER")
    assert f"{MAX_LIVE} live jobs" in description
    assert "Retry-After" not in result.headers  # waiting does not lift it


def test_a_user_may_have_max_live_jobs_and_no_more(limited, user):
    for _ in range(MAX_LIVE):
        created(submit(limited, user, schedule={"run_at": future()}))
    assert_live_limit(submit(limited, user))


def test_finished_and_cancelled_jobs_do_not_count(limited, user, engine, clock):
    first = created(submit(limited, user, schedule={"run_at": future()}))
    second = created(submit(limited, user, schedule={"run_at": future()}))
    created(submit(limited, user, schedule={"run_at": future()}))
    assert_live_limit(submit(limited, user))

    cancel_job(limited, user, first["id"])
    finish(engine, second["id"])
    clock.advance(60)  # a new minute: only the live jobs are at stake
    created(submit(limited, user))
    created(submit(limited, user))
    assert_live_limit(submit(limited, user))


def test_a_batch_fits_whole_or_is_refused_whole(limited, user, make_user):
    created(submit(limited, user))
    assert_live_limit(batch(limited, user, noops(MAX_LIVE)))
    assert len(limited.simulate_get("/jobs", headers=user.headers).json["items"]) == 1
    assert len(created(batch(limited, user, noops(MAX_LIVE - 1)))["items"]) == MAX_LIVE - 1

    fresh = make_user()
    assert_live_limit(batch(limited, fresh, noops(MAX_LIVE + 1)))
    assert len(created(batch(limited, fresh, noops(MAX_LIVE)))["items"]) == MAX_LIVE


def test_reviving_a_job_needs_room_for_it(limited, user, engine, clock):
    jobs = [created(submit(limited, user, schedule={"run_at": future()})) for _ in range(MAX_LIVE)]
    cancelled, finished = jobs[0], jobs[1]
    cancel_job(limited, user, cancelled["id"])
    finish(engine, finished["id"])
    for _ in range(2):  # back at the limit
        created(submit(limited, user, schedule={"run_at": future()}))
    clock.advance(60)  # a new minute for the triggers

    again = {"run_at": future(2)}
    assert_live_limit(
        limited.simulate_put(
            f"/jobs/{cancelled['id']}/reschedule", json=again, headers=user.headers
        )
    )
    assert_live_limit(
        limited.simulate_post(f"/jobs/{finished['id']}/trigger", headers=user.headers)
    )
    # A live job's reschedule and trigger revive nothing: the limit does not apply.
    live = jobs[2]["id"]
    moved = limited.simulate_put(f"/jobs/{live}/reschedule", json=again, headers=user.headers)
    assert moved.status_code == 200, moved.text
    triggered = limited.simulate_post(f"/jobs/{live}/trigger", headers=user.headers)
    assert triggered.status_code == 202, triggered.text

    cancel_job(limited, user, live)
    revived = limited.simulate_put(
        f"/jobs/{cancelled['id']}/reschedule", json=again, headers=user.headers
    )
    assert revived.status_code == 200, revived.text
    assert revived.json["status"] == "scheduled"


def test_admins_have_no_live_job_limit(limited, admin):
    for _ in range(MAX_LIVE + 1):
        created(submit(limited, admin, schedule={"run_at": future()}))
    assert len(created(batch(limited, admin, noops(MAX_LIVE + 1)))["items"]) == MAX_LIVE + 1


def test_two_concurrent_submits_cannot_both_take_the_last_place(settings, engine, make_user):
    """The second waits for the first's lock on the user, then sees its job."""
    user = make_user()
    owner = uuid.UUID(user.id)
    quota = Quota(owner, UserLimits(max_live_jobs=1, submits_per_minute=100))
    now = datetime.now(UTC)
    spec = parse_submit({"type": "noop"}, now, is_admin=False, shell_enabled=False)
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with engine.begin() as conn:
                lifecycle.submit(conn, spec, owner_id=owner, now=now, quota=quota)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    with engine.begin() as first:
        lifecycle.submit(first, spec, owner_id=owner, now=now, quota=quota)
        thread = threading.Thread(target=second)
        thread.start()
        wait_for(
            lambda: waiting_for_a_lock(engine),
            timeout=10,
            interval=0.02,
            message="the second submit to wait for the first's lock",
        )
    thread.join(timeout=10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], TooManyRequests), outcome
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM jobs WHERE owner_id = :o"), {"o": owner})
    assert count == 1


def waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        )


def test_many_concurrent_submits_never_pass_the_limit(limited, make_user):
    user = make_user()
    answers: list[int] = []
    gate = threading.Barrier(8)

    def one() -> None:
        gate.wait()
        answers.append(submit(limited, user).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] * MAX_LIVE + [429] * (8 - MAX_LIVE)


# --- submits per minute ---------------------------------------------------------------------


def assert_rate_limit(result: Any, retry_after: int) -> None:
    assert_error(result, 429, "CHRONOS_SUBMITS_PER_MINUTE")
    assert result.headers["Retry-After"] == str(retry_after)


@pytest.fixture
def roomy(settings: Settings, engine: Engine, clock: FixedClock) -> testing.TestClient:
    """Only the rate is tight: live jobs do not get in its way."""
    rate_only = replace(settings, submits_per_minute=PER_MINUTE, max_live_jobs_per_user=1000)
    return testing.TestClient(create_app(rate_only, clock=clock, engine=engine))


def test_a_user_may_submit_per_minute_jobs_a_minute(roomy, user, clock):
    for _ in range(PER_MINUTE):
        created(submit(roomy, user))
    clock.advance(45)
    assert_rate_limit(submit(roomy, user), 15)
    clock.advance(14)
    assert_rate_limit(submit(roomy, user), 1)
    clock.advance(1)  # the window has passed
    created(submit(roomy, user))


def test_each_job_of_a_batch_counts_and_a_refused_batch_counts_nothing(roomy, user, clock):
    created(batch(roomy, user, noops(PER_MINUTE - 2)))
    assert_rate_limit(batch(roomy, user, noops(3)), 60)
    # The refused batch was not counted: two more still fit, and then none.
    created(batch(roomy, user, noops(2)))
    assert_rate_limit(submit(roomy, user), 60)


def test_a_batch_larger_than_the_rate_is_refused_at_once(roomy, user):
    result = batch(roomy, user, noops(PER_MINUTE + 1))
    description = assert_error(result, 429, "CHRONOS_SUBMITS_PER_MINUTE")
    assert "split the batch" in description
    assert result.headers["Retry-After"] == "60"
    created(batch(roomy, user, noops(PER_MINUTE)))


def test_each_trigger_counts_as_a_submit(roomy, user, clock):
    job = created(submit(roomy, user, schedule={"run_at": future()}))
    for _ in range(PER_MINUTE - 1):
        triggered = roomy.simulate_post(f"/jobs/{job['id']}/trigger", headers=user.headers)
        assert triggered.status_code == 202, triggered.text
    clock.advance(30)
    assert_rate_limit(roomy.simulate_post(f"/jobs/{job['id']}/trigger", headers=user.headers), 30)
    assert_rate_limit(submit(roomy, user), 30)


def test_an_idempotent_repeat_is_not_counted(roomy, user):
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = created(submit(roomy, user, headers=key))
    for _ in range(PER_MINUTE + 2):
        repeat = submit(roomy, user, headers=key)
        assert repeat.status_code == 200, repeat.text
        assert repeat.json["id"] == first["id"]
    for _ in range(PER_MINUTE - 1):
        created(submit(roomy, user))
    assert_rate_limit(submit(roomy, user), 60)


def test_the_rate_is_per_user_and_admins_are_exempt(roomy, user, other_user, admin):
    created(batch(roomy, user, noops(PER_MINUTE)))
    assert_rate_limit(submit(roomy, user), 60)
    created(submit(roomy, other_user))
    created(batch(roomy, admin, noops(PER_MINUTE)))
    created(batch(roomy, admin, noops(PER_MINUTE)))


def test_the_rate_is_shared_by_every_api_process(roomy, settings, engine, clock, user):
    other_process = testing.TestClient(
        create_app(replace(settings, submits_per_minute=PER_MINUTE), clock=clock, engine=engine)
    )
    created(batch(roomy, user, noops(PER_MINUTE - 1)))
    created(submit(other_process, user))
    assert_rate_limit(submit(roomy, user), 60)


# --- the shortest interval and the highest priority --------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"interval_seconds": MIN_INTERVAL - 1}, "schedule.interval_seconds"),
        ({"interval_seconds": MIN_INTERVAL}, None),
        ({"cron": "*/5 * * * *"}, None),  # 300 s
        ({"cron": "0,4 * * * *"}, "schedule.cron"),  # 240 s, from :00 to :04
        ({"cron": "0,1 9 * * *"}, "schedule.cron"),  # 60 s
        ({"cron": "0 0,23 * * *"}, None),  # an hour, from 23:00 to midnight
        ({"cron": "59 23 * * *"}, None),
        ({"repeat": "hourly"}, None),
    ],
)
def test_the_shortest_interval_on_submit(limited, user, admin, schedule, field):
    result = submit(limited, user, schedule=schedule)
    if field is None:
        created(result)
        return
    description = assert_error(result, 400, field)
    assert description.startswith(f"{field}: ")
    assert f"at least {MIN_INTERVAL} s" in description
    assert "CHRONOS_MIN_INTERVAL_SECONDS" in description
    created(submit(limited, admin, schedule=schedule))


def test_the_interval_message_names_the_field_and_the_setting(limited, user):
    result = submit(limited, user, schedule={"interval_seconds": 1})
    assert result.json["description"] == (
        f"schedule.interval_seconds: must be at least {MIN_INTERVAL} s "
        "(CHRONOS_MIN_INTERVAL_SECONDS)"
    )
    # A single occurrence has no interval to speak of.
    created(submit(limited, user, schedule={"interval_seconds": 1, "max_runs": 1}))


def test_the_shortest_interval_in_a_batch_names_the_index(limited, user, admin):
    jobs = [{"type": "noop"}, {"type": "noop", "schedule": {"cron": "0,30 * * * *"}}]
    jobs.append({"type": "noop", "schedule": {"interval_seconds": 30}})
    description = assert_error(batch(limited, user, jobs), 400, "jobs[2].schedule.interval_seconds")
    assert "CHRONOS_MIN_INTERVAL_SECONDS" in description
    assert limited.simulate_get("/jobs", headers=user.headers).json["items"] == []
    assert len(created(batch(limited, admin, jobs))["items"]) == 3


def test_the_shortest_interval_on_reschedule(limited, user, admin):
    job = created(submit(limited, user, schedule={"run_at": future()}))
    path = f"/jobs/{job['id']}/reschedule"
    fast = limited.simulate_put(path, json={"cron": "*/5 * * * *"}, headers=user.headers)
    assert fast.status_code == 200, fast.text  # the limit itself
    faster = limited.simulate_put(path, json={"interval_seconds": 10}, headers=user.headers)
    description = assert_error(faster, 400, "interval_seconds")
    assert description.startswith(f"interval_seconds: must be at least {MIN_INTERVAL} s")
    twice = limited.simulate_put(path, json={"cron": "0,59 * * * *"}, headers=user.headers)
    assert_error(twice, 400, "cron")
    by_admin = limited.simulate_put(path, json={"interval_seconds": 10}, headers=admin.headers)
    assert by_admin.status_code == 200, by_admin.text


def test_the_highest_priority(limited, user, admin):
    created(submit(limited, user, priority=0))
    description = assert_error(submit(limited, user, priority=1), 400, "priority")
    assert description.startswith("priority: must be at most 0 (CHRONOS_MAX_USER_PRIORITY)")
    assert_error(batch(limited, user, [*noops(1), *noops(1, priority=9)]), 400, "jobs[1].priority")
    created(submit(limited, admin, priority=9))


def test_a_higher_priority_limit_allows_up_to_it(settings, engine, clock, user):
    client = testing.TestClient(
        create_app(replace(settings, max_user_priority=5), clock=clock, engine=engine)
    )
    created(submit(client, user, priority=5))
    assert_error(submit(client, user, priority=6), 400, "priority")


def test_the_defaults_hold_without_any_setting(engine, clock, make_user, database_url):
    """H2's flood: priority 9, 1-second intervals. The defaults refuse both."""
    defaults = Settings(database_url=database_url, jwt_secret="test-secret-" + "x" * 40)
    client = testing.TestClient(create_app(defaults, clock=clock, engine=engine))
    user = make_user()
    assert_error(submit(client, user, priority=9), 400, "priority")
    assert_error(submit(client, user, schedule={"interval_seconds": 1}), 400, "interval_seconds")
    created(submit(client, user, schedule={"interval_seconds": 60}))
    # The largest batch the contract allows fits the default rate, once a minute.
    fresh = make_user()
    assert len(created(batch(client, fresh, noops(1000)))["items"]) == 1000
    assert_rate_limit(submit(client, fresh), 60)
