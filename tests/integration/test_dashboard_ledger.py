"""The job page's schedule views against the real PostgreSQL: the occurrence ledger (X1),
with runs the scheduler's own passes wrote on a pinned clock, and the next occurrences
with their DST badges and the reschedule form's dry run (X4).

The ledger's API reads the world's FixedClock (pinned in 2001, see ``dispatch_helpers``),
so the page, the dispatcher and the runs agree on "now". The DST tests pin the clock in
March 2027, a week before Berlin springs forward. A session is made by the real-time app
(a token's expiry is checked against the host's time) and carried over.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from falcon import testing
from sqlalchemy import Engine, event, text

from api.app import create_app
from scheduler.dispatcher import DispatchResult
from shared import lifecycle
from shared.clock import FixedClock
from shared.repository import ledger as ledger_repo
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import World, iso, open_world
from tests.integration.helpers import create_job
from tests.integration.test_dashboard import Browser

ROW = re.compile(r'<tr data-occurrence="([^"]+)" data-verdict="(\w+)"[^>]*>(.*?)</tr>', re.S)
HOUR = 3600
OVERLAP = "an earlier run was still queued or running (overlap_policy forbid)"
BEFORE_SPRING = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


def browser_at(client: testing.TestClient, user: Account, app: Any) -> Browser:
    session = Browser(client)
    assert session.sign_in(user).status_code == 303
    browser = Browser(testing.TestClient(app))
    browser.cookies = dict(session.cookies)
    return browser


@pytest.fixture
def page(world: World, client: testing.TestClient, user: Account) -> Browser:
    """Signed in as the world's user, on an API whose clock is the world's."""
    app = create_app(world.settings, clock=world.clock, engine=world.engine)
    return browser_at(client, user, app)


@pytest.fixture
def spring_clock() -> FixedClock:
    return FixedClock(BEFORE_SPRING)


@pytest.fixture
def spring(
    settings: Settings, engine: Engine, client: testing.TestClient, user: Account, spring_clock: Any
) -> Browser:
    """Signed in, on an API whose clock is a week before Berlin's spring forward."""
    return browser_at(client, user, create_app(settings, clock=spring_clock, engine=engine))


def ledger_rows(browser: Browser, job_id: Any) -> list[tuple[datetime, str, str]]:
    """The ledger fragment's rows, oldest first: occurrence, verdict, the row's text."""
    result = browser.get(f"/ui/jobs/{job_id}/ledger")
    assert result.status_code == 200, result.text
    rows = [
        (datetime.fromisoformat(at), verdict, re.sub(r"<[^>]+>", " ", cells))
        for at, verdict, cells in ROW.findall(result.text)
    ]
    return rows[::-1]


class Statements:
    """Every SQL statement the engine runs inside the block."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _count(self, *args: Any) -> None:
        self.seen.append(args[2])

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def writes(self) -> list[str]:
        return [
            s for s in self.seen if s.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
        ]


# --- X1: the occurrence ledger ------------------------------------------------------------


def run_hourly(world: World, job: uuid.UUID, hours: range, *, long_first: bool = False) -> None:
    """Drive the dispatcher on the hour, as the scheduler's loop would, and play the
    worker: each run starts at once and ends a second later; with ``long_first``, the
    first one runs for an hour and a half."""
    dispatcher = world.dispatcher()
    for hour in hours:
        world.clock.set(world.at(hour * HOUR))
        result = dispatcher.run_once()
        assert result.claimed == 1, (hour, result)
        queued = [run for run in world.runs(job) if run["state"] == "queued"]
        for run in queued:
            world.start_run(run["id"])
            if long_first and hour == 0:
                continue
            world.clock.advance(1)
            world.finish_run(run["id"])
        if long_first and hour == 1:
            world.clock.set(world.at(1.5 * HOUR))
            [long] = [run for run in world.runs(job) if run["state"] == "running"]
            world.finish_run(long["id"])
        world.take_messages()


def test_the_ledger_shows_the_one_overlap_skip_and_then_a_deleted_run_as_missing(
    world: World, page: Browser, engine: Engine
) -> None:
    """X1's acceptance: an hourly job with overlap_policy forbid whose first run lasts
    90 minutes, and five more hours of the real dispatcher."""
    job = world.submit(
        schedule={"repeat": "hourly", "run_at": iso(world.at(0))}, overlap_policy="forbid"
    )
    run_hourly(world, job, range(6), long_first=True)
    world.clock.set(world.at(5.5 * HOUR))

    rows = ledger_rows(page, job)
    assert [(at, verdict) for at, verdict, _ in rows] == [
        (world.at(0), "on_time"),
        (world.at(1 * HOUR), "skipped"),
        *[(world.at(hour * HOUR), "on_time") for hour in range(2, 6)],
        (world.at(6 * HOUR), "upcoming"),  # materialised by the 05:00 claim
    ]
    assert [verdict for _, verdict, _ in rows].count("skipped") == 1
    assert OVERLAP in rows[1][2]

    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM runs WHERE job_id = :job AND scheduled_for = :at"),
            {"job": job, "at": world.at(3 * HOUR)},
        )
    after = {at: (verdict, cells) for at, verdict, cells in ledger_rows(page, job)}
    assert after[world.at(3 * HOUR)][0] == "missing"
    assert "it has no run" in after[world.at(3 * HOUR)][1]
    assert [verdict for verdict, _ in after.values()].count("missing") == 1
    assert after[world.at(2 * HOUR)][0] == after[world.at(4 * HOUR)][0] == "on_time"


def test_a_pause_and_a_late_resume_are_not_missing_runs(world: World, page: Browser) -> None:
    """Paused for three hours: the held occurrence waits, and the ones after it are
    waiting, not missing; resumed, run_once runs it late and goes on from then, so the
    hours between have no row, by design: covered."""
    job = world.submit(schedule={"repeat": "hourly", "run_at": iso(world.at(0))})
    run_hourly(world, job, range(2))
    world.lifecycle(lifecycle.pause, job)
    world.clock.set(world.at(4.5 * HOUR))
    assert world.dispatcher().run_once() == DispatchResult()

    paused = dict((at, verdict) for at, verdict, _ in ledger_rows(page, job))
    assert paused == {
        world.at(0): "on_time",
        world.at(HOUR): "on_time",
        world.at(2 * HOUR): "held",
        world.at(3 * HOUR): "waiting",
        world.at(4 * HOUR): "waiting",
    }

    world.lifecycle(lifecycle.resume, job)
    claim = world.dispatcher().run_once()
    assert (claim.claimed, claim.skipped) == (1, 0)
    resumed = {at: (verdict, cells) for at, verdict, cells in ledger_rows(page, job)}
    assert resumed[world.at(2 * HOUR)][0] == "not_started"  # queued, late, for a worker
    assert resumed[world.at(3 * HOUR)][0] == resumed[world.at(4 * HOUR)][0] == "covered"
    assert "claimed late" in resumed[world.at(3 * HOUR)][1]
    assert resumed[world.at(5 * HOUR)][0] == "upcoming"
    assert "missing" not in {verdict for verdict, _ in resumed.values()}


def test_a_manual_trigger_is_listed_apart_and_a_late_start_says_by_how_much(
    world: World, page: Browser
) -> None:
    job = world.submit(schedule={"repeat": "hourly", "run_at": iso(world.at(0))})
    dispatcher = world.dispatcher()
    dispatcher.run_once()
    [first] = [run for run in world.runs(job) if run["state"] == "queued"]
    world.clock.set(world.at(2.5))  # the worker starts it 2.5 s late
    world.start_run(first["id"])
    world.finish_run(first["id"])
    world.clock.set(world.at(600))
    world.lifecycle(lifecycle.trigger, job)
    world.take_messages()

    result = page.get(f"/ui/jobs/{job}/ledger")
    assert "Triggered by hand" in result.text
    manual = [run for run in world.runs(job) if run["origin"] == "manual"]
    assert f'<tr data-run-id="{manual[0]["id"]}">' in result.text
    rows = ledger_rows(page, job)
    assert [(at, verdict) for at, verdict, _ in rows] == [
        (world.at(0), "late"),
        (world.at(HOUR), "upcoming"),
    ]
    assert "late by 2,500 ms" in rows[0][2]


def test_the_ledger_starts_at_the_last_reschedule(
    world: World, page: Browser, engine: Engine
) -> None:
    """The schedule changed at 02:30, from hourly to every 30 minutes: the ledger reads
    the reschedule's audit event and starts there, so the old schedule's runs are neither
    matched nor missing. Without the event (pruned), they show as off schedule."""
    job = world.submit(schedule={"repeat": "hourly", "run_at": iso(world.at(0))})
    run_hourly(world, job, range(3))
    world.clock.set(world.at(2.5 * HOUR))
    moved = page.act(
        str(job), "reschedule", kind="interval_seconds", interval_seconds="1800", timezone="UTC"
    )
    assert moved.status_code == 303, moved.text
    dispatcher = world.dispatcher()
    for half_hours in (5, 6, 7):  # 02:30, 03:00, 03:30
        world.clock.set(world.at(half_hours * HOUR / 2))
        assert dispatcher.run_once().claimed == 1
        [queued] = [run for run in world.runs(job) if run["state"] == "queued"]
        world.start_run(queued["id"])
        world.finish_run(queued["id"])
    world.take_messages()

    rows = [(at, verdict) for at, verdict, _ in ledger_rows(page, job)]
    assert rows == [
        (world.at(2.5 * HOUR), "on_time"),
        (world.at(3 * HOUR), "on_time"),
        (world.at(3.5 * HOUR), "on_time"),
        (world.at(4 * HOUR), "upcoming"),
    ]
    assert "the last reschedule" in page.get(f"/ui/jobs/{job}/ledger").text

    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM audit_events WHERE object_id = :job AND action = 'job.reschedule'"),
            {"job": str(job)},
        )
    unbounded = dict((at, verdict) for at, verdict, _ in ledger_rows(page, job))
    assert [unbounded[world.at(hour * HOUR)] for hour in range(3)] == ["off_schedule"] * 3
    assert "missing" not in unbounded.values()


def test_a_one_off_job_has_no_ledger(page: Browser, world: World) -> None:
    job = world.submit(schedule={"run_at": iso(world.at(60))})
    result = page.get(f"/ui/jobs/{job}/ledger")
    assert result.status_code == 200
    assert "A one-off job has no schedule" in result.text
    assert 'id="ledger"' not in page.get(f"/ui/jobs/{job}").text.split('<h2 id="runs-heading"')[0]


def test_the_job_page_fetches_the_ledger_and_the_fragment_reads_on_indexes(
    world: World, page: Browser, engine: Engine
) -> None:
    job = world.submit(schedule={"repeat": "hourly", "run_at": iso(world.at(0))})
    run_hourly(world, job, range(3))
    html = page.get(f"/ui/jobs/{job}").text
    assert f'hx-get="/ui/jobs/{job}/ledger" hx-trigger="load"' in html
    with Statements(engine) as statements:
        assert page.get(f"/ui/jobs/{job}/ledger").status_code == 200
    # The session's user, the owner check, the last reschedule, the runs, and the job's
    # hourly lag rollups.
    assert len(statements.seen) <= 5, statements.seen
    assert statements.writes() == []
    # htmx gets the fragment; the link, followed without a script, a whole page.
    swapped = page.get(f"/ui/jobs/{job}/ledger", headers={"HX-Request": "true"}).text
    assert "<html" not in swapped
    assert 'id="ledger"' in swapped
    followed = page.get(f"/ui/jobs/{job}/ledger").text
    assert "<html" in followed
    assert 'id="ledger"' in followed
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        for statement, params, index in (
            (
                ledger_repo.LEDGER_RUNS,
                {"job": job, "since": world.at(0), "most": ledger_repo.MOST_RUNS},
                ("uq_runs_occurrence_attempt", "ix_runs_history"),
            ),
        ):
            plan = "\n".join(
                row[0] for row in conn.execute(text(f"EXPLAIN {statement.text}"), params)
            )
            for name in index:
                assert name in plan, plan
        audit = conn.execute(
            text(
                "EXPLAIN SELECT at FROM audit_events WHERE object_id = :job AND action = :a "
                "ORDER BY at DESC, id DESC LIMIT 1"
            ),
            {"job": str(job), "a": "job.reschedule"},
        )
        audit_plan = "\n".join(row[0] for row in audit)
        # Either of the log's indexes on its filters; with real statistics, the job's own.
        assert "ix_audit_events_object" in audit_plan or "ix_audit_events_action" in audit_plan
        assert "Seq Scan" not in audit_plan


# --- X4: DST badges and the reschedule dry run -------------------------------------------


def spring_job(client: testing.TestClient, user: Account) -> dict[str, Any]:
    """A daily 02:30 Europe/Berlin job, its first run the day after the pinned clock."""
    return create_job(
        client,
        user,
        name="nightly",
        schedule={
            "repeat": "daily",
            "run_at": "2027-03-21T02:30:00+01:00",
            "timezone": "Europe/Berlin",
        },
    )


def preview(browser: Browser, job_id: str, **fields: str) -> Any:
    form = {
        "kind": "cron",
        "run_at": "",
        "repeat": "",
        "interval_seconds": "",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "end_at": "",
        "max_runs": "",
        **fields,
    }
    return browser.get(f"/ui/jobs/{job_id}/preview", query_string=urlencode(form))


def column(html: str, name: str) -> list[str]:
    """A preview column's cells, as text."""
    cells = re.findall(rf'<td data-column="{name}">(.*?)</td>', html, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip() for cell in cells]


def test_the_next_occurrences_mark_berlins_spring_forward(
    client: testing.TestClient, spring: Browser, user: Account
) -> None:
    job = spring_job(client, user)
    page = spring.get(f"/ui/jobs/{job['id']}")
    assert page.status_code == 200, page.text
    items = re.findall(r"<li><time[^>]*>([^<]*)</time>.*?</li>", page.text, re.S)
    assert len(items) == 10
    marked = re.findall(
        r'<li><time datetime="([^"]+)">[^<]*</time> <span class="ago">[^<]*</span>'
        r' <span class="local">([^<]*)</span>'
        r' <span class="badge dst" title="([^"]*)">([^<]*)</span></li>',
        page.text,
    )
    assert marked == [
        (
            "2027-03-28T01:00:00+00:00",
            "Sun 2027-03-28 03:00:00 CEST",
            "02:30 does not exist on 2027-03-28 in Europe/Berlin: the clock jumps over it, "
            "and the job runs at the moment of the jump",
            "spring forward: runs at the jump",
        )
    ]
    assert "Sat 2027-03-27 02:30:00 CET" in page.text
    assert "Mon 2027-03-29 02:30:00 CEST" in page.text


def test_the_reschedule_preview_shows_old_and_new_side_by_side_and_writes_nothing(
    client: testing.TestClient, spring: Browser, user: Account, engine: Engine
) -> None:
    job = spring_job(client, user)
    form = spring.get(f"/ui/jobs/{job['id']}").text
    assert f'hx-get="/ui/jobs/{job["id"]}/preview"' in form
    assert 'hx-trigger="input changed delay:300ms, change"' in form
    assert 'hx-include="this"' in form
    assert 'hx-target="#reschedule-preview"' in form
    with engine.connect() as conn:
        before = dict(
            conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job["id"]})
            .mappings()
            .one()
        )
        runs_before = conn.execute(
            text("SELECT * FROM runs WHERE job_id = :id"), {"id": job["id"]}
        ).all()
        events_before = conn.scalar(
            text("SELECT count(*) FROM audit_events WHERE object_id = :id"), {"id": job["id"]}
        )

    with Statements(engine) as same:
        unchanged = preview(spring, job["id"])
    assert unchanged.status_code == 200, unchanged.text
    old, new = column(unchanged.text, "old"), column(unchanged.text, "new")
    assert len(old) == len(new) == 10
    assert old == new  # the same times, by cron instead of "daily"
    assert "Sun 2027-03-28 03:00:00 CEST" in old[7]
    assert "spring forward: runs at the jump" in old[7]
    assert "spring forward: runs at the jump" in new[7]
    assert 'class="changed"' not in unchanged.text

    with Statements(engine) as changed:
        moved = preview(spring, job["id"], cron="0 4 * * *")
    assert moved.status_code == 200, moved.text
    assert column(moved.text, "old") == old  # the current schedule, as it is
    moved_new = column(moved.text, "new")
    assert moved_new[0].startswith("Sun 2027-03-21 04:00:00 CET")
    assert moved_new[7].startswith("Sun 2027-03-28 04:00:00 CEST")
    assert not any("spring forward" in cell for cell in moved_new)
    assert moved.text.count('class="changed"') == 10

    assert same.writes() == changed.writes() == []
    assert len(changed.seen) <= 3, changed.seen  # the session's user, the job, its pending run
    with engine.connect() as conn:
        after = dict(
            conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job["id"]})
            .mappings()
            .one()
        )
        runs_after = conn.execute(
            text("SELECT * FROM runs WHERE job_id = :id"), {"id": job["id"]}
        ).all()
        events_after = conn.scalar(
            text("SELECT count(*) FROM audit_events WHERE object_id = :id"), {"id": job["id"]}
        )
    assert after == before
    assert runs_after == runs_before
    assert events_after == events_before


def test_the_preview_is_what_upcoming_answers_once_the_form_is_saved(
    client: testing.TestClient, spring: Browser, user: Account
) -> None:
    job = spring_job(client, user)
    fields = {"cron": "15 3 * * 1-5", "timezone": "America/New_York"}
    shown = preview(spring, job["id"], **fields)
    times = re.findall(r'<td data-column="new">.*?<time datetime="([^"]+)"', shown.text, re.S)
    assert len(times) == 10
    token = spring.csrf(f"/ui/jobs/{job['id']}")
    saved = spring.post(
        f"/ui/jobs/{job['id']}/reschedule",
        {
            "csrf_token": token,
            "kind": "cron",
            "run_at": "",
            "repeat": "",
            "interval_seconds": "",
            "end_at": "",
            "max_runs": "",
            **fields,
        },
    )
    assert saved.status_code == 303, saved.text
    answer = spring.client.simulate_get(
        f"/jobs/{job['id']}/upcoming", params={"count": "10"}, headers=user.headers
    )
    assert answer.status_code == 200, answer.text
    assert [
        datetime.fromisoformat(item.replace("Z", "+00:00")) for item in answer.json["items"]
    ] == [datetime.fromisoformat(moment) for moment in times]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 9 * *"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"kind": "sometimes"}, "kind"),
        ({"kind": "interval_seconds", "interval_seconds": "soon"}, "interval_seconds"),
        ({"max_runs": "many"}, "max_runs"),
        ({"run_at": "2001-01-01T00:00:00Z"}, "run_at"),
        ({"end_at": "2027-03-20T00:00:00Z"}, "end_at"),
        ({"cron": "0\x00 9 * * *"}, "query"),
    ],
)
def test_a_preview_of_a_bad_form_names_the_field_and_writes_nothing(
    client: testing.TestClient,
    spring: Browser,
    user: Account,
    engine: Engine,
    fields: dict[str, str],
    named: str,
) -> None:
    job = spring_job(client, user)
    with Statements(engine) as statements:
        result = preview(spring, job["id"], **fields)
    assert result.status_code == 400, result.text
    assert f'data-field="{named}"' in result.text
    assert f"{named}:" in result.text
    assert len(column(result.text, "old")) == 10  # the current schedule still shows
    assert statements.writes() == []


def test_a_preview_of_someone_elses_job_is_a_404(
    client: testing.TestClient, spring: Browser, other_user: Account
) -> None:
    theirs = create_job(client, other_user, schedule={"repeat": "daily"})
    assert preview(spring, theirs["id"]).status_code == 404
    assert spring.get(f"/ui/jobs/{theirs['id']}/ledger").status_code == 404


def test_a_schedule_at_the_end_of_the_calendar_still_shows_its_pages(
    client: testing.TestClient, spring: Browser, user: Account
) -> None:
    """The API takes a run_at in 9999; the pages must not overflow a datetime while they
    look for a clock change a few hours on, or show the wall time in a zone ahead of UTC."""
    job = create_job(
        client,
        user,
        schedule={"repeat": "daily", "run_at": "9999-12-30T22:00:00Z", "timezone": "Asia/Tokyo"},
    )
    page = spring.get(f"/ui/jobs/{job['id']}")
    assert page.status_code == 200, page.text[:300]
    assert "9999-12-30 22:00:00 UTC" in page.text
    assert spring.get(f"/ui/jobs/{job['id']}/ledger").status_code == 200
    dry_run = preview(spring, job["id"], kind="repeat", repeat="daily",
                      run_at="9999-12-31T23:00:00Z", timezone="Asia/Tokyo")  # fmt: skip
    assert dry_run.status_code == 200, dry_run.text[:300]
