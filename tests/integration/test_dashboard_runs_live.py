"""The run page's live parts against the real PostgreSQL, with the scheduler's own passes
on a pinned clock: the heartbeat badge and rescue countdown (X5), and "why didn't it
run?" for overlap and misfire skips (X3).

The API here reads the world's FixedClock (pinned in 2001, see ``dispatch_helpers``), so
the page and the dispatcher and rescuer agree on "now". A worker that stops heart-beating
is simulated by moving that clock on after it started the run: nothing refreshes
``heartbeat_at`` (no fault hook is needed; none exists for heartbeats).
"""

from __future__ import annotations

import dataclasses
import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine, event

from api.app import create_app
from scheduler.rescuer import Rescuer
from shared.repository import dashboard as dashboard_repo
from shared.repository import dispatch as dispatch_repo
from shared.repository import runs as run_repo
from shared.settings import Settings
from shared.states import RunState
from tests.integration.conftest import Account
from tests.integration.dispatch_helpers import World, every, open_world
from tests.integration.helpers import create_job
from tests.integration.test_dashboard import Browser

BADGE = re.compile(r'<span class="beat beat-(\w+)" data-pulse="\1">([^<]*)</span>')
COUNTDOWN = re.compile(r'<span class="countdown">([^<]*)</span>')


@pytest.fixture
def world(settings: Settings, engine: Engine, user: Account) -> Iterator[World]:
    yield from open_world(settings, engine, user.id)


@pytest.fixture
def page(world: World, client: testing.TestClient, user: Account) -> Browser:
    """A browser on an API whose clock is the world's, signed in as the world's user.
    The session is made by the real-time app: a token's expiry is checked against the
    host's time, so one issued in 2001 would already have expired."""
    session = Browser(client)
    assert session.sign_in(user).status_code == 303
    browser = Browser(
        testing.TestClient(create_app(world.settings, clock=world.clock, engine=world.engine))
    )
    browser.cookies = dict(session.cookies)
    return browser


def text_of(markup: str) -> str:
    """The page's text, as a reader sees it: no tags, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def badge(markup: str) -> tuple[str, str, str] | None:
    """The heartbeat badge's colour and words and the countdown, or None if none shows."""
    found = BADGE.search(markup)
    if found is None:
        assert COUNTDOWN.search(markup) is None
        return None
    countdown = COUNTDOWN.search(markup)
    assert countdown is not None
    return found[1], html.unescape(found[2]), html.unescape(countdown[1])


def started(world: World, **fields: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """A job whose first run a worker started at the clock's time: (job id, run id)."""
    job = world.submit(**fields)
    world.dispatcher().claim()
    run_id = world.only_run(job, "queued")["id"]
    world.start_run(run_id, worker="dead-host:4242")
    return job, run_id


def seen(page: Browser, path: str) -> str:
    result = page.get(path)
    assert result.status_code == 200, result.text
    return str(result.text)


# --- X5: heartbeat and rescue countdown ------------------------------------------------


def test_a_worker_that_stops_heart_beating_goes_green_amber_red_then_lost_and_retried(
    world: World, page: Browser
) -> None:
    assert (world.settings.heartbeat_seconds, world.settings.lease_seconds) == (5, 30)
    job, run_id = started(world, max_attempts=2, retry_backoff_seconds=20)
    run_page, live, table = f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/live", f"/ui/jobs/{job}"

    world.clock.set(world.at(3))
    assert badge(seen(page, run_page)) == ("fresh", "heartbeat 3 s ago", "in 27 s")
    assert badge(seen(page, table)) == ("fresh", "heartbeat 3 s ago", "in 27 s")
    assert "Will be marked lost at 2001-03-05 12:00:30 UTC" in text_of(seen(page, run_page))

    # Past one heartbeat interval with none: amber, on the page and in the polled parts.
    world.clock.set(world.at(12))
    assert badge(seen(page, live)) == ("late", "heartbeat 12 s ago: late", "in 18 s")
    assert badge(seen(page, f"/ui/jobs/{job}/runs")) == (
        "late",
        "heartbeat 12 s ago: late",
        "in 18 s",
    )

    # The worker's heartbeat comes: green again, the deadline moves on.
    with world.engine.begin() as conn:
        assert len(dispatch_repo.heartbeat(conn, [run_id], world.now)) == 1
    assert badge(seen(page, run_page)) == ("fresh", "heartbeat just now", "in 30 s")
    assert "Will be marked lost at 2001-03-05 12:00:42 UTC" in text_of(seen(page, run_page))

    # Then it stops. Exactly a lease old is still amber, as the rescuer leaves it alone.
    rescuer = Rescuer(world.settings, world.engine, world.clock)
    world.clock.set(world.at(42))
    assert badge(seen(page, run_page)) == (
        "late",
        "heartbeat 30 s ago: late",
        "at the rescuer's next pass",
    )
    assert rescuer.run_once() == 0

    world.clock.set(world.at(53))
    red = ("expired", "no heartbeat for 41 s: will be marked lost", "at the rescuer's next pass")
    assert badge(seen(page, run_page)) == red
    assert badge(seen(page, f"/ui/jobs/{job}/runs")) == red
    assert 'hx-trigger="chronos:follow" data-follow' in seen(page, live)

    # The rescuer's pass: the run is lost, and its retry is on the job page.
    assert rescuer.run_once() == 1
    lost = seen(page, run_page)
    assert '<span class="state state-lost">lost</span>' in lost
    assert badge(lost) is None
    assert "the worker stopped sending heartbeats (dead-host:4242)" in lost
    fragment = seen(page, live)
    assert 'data-state="lost"' in fragment
    assert "hx-trigger" not in fragment  # the run has ended: the page stops polling
    assert "<html" not in fragment

    retry = world.only_run(job, "pending")
    assert (retry["attempt"], retry["origin"]) == (2, "retry")
    runs = seen(page, table)
    assert f'<tr data-run-id="{run_id}" data-state="lost">' in runs
    assert f'<tr data-run-id="{retry["id"]}" data-state="pending">' in runs
    assert badge(runs) is None
    assert f'href="/ui/runs/{retry["id"]}"' in lost  # an attempt of the same occurrence


def test_an_interrupt_request_shows_until_the_run_ends(world: World, page: Browser) -> None:
    job, run_id = started(world, max_attempts=3)
    world.clock.set(world.at(4))
    assert page.act(str(job), "cancel").status_code == 303

    running = text_of(seen(page, f"/ui/runs/{run_id}"))
    assert "Interrupt requested at 2001-03-05 12:00:04 UTC" in running
    assert "heartbeat 4 s ago" in running  # still running: still watched
    assert "interrupt requested at 2001-03-05 12:00:04 UTC" in text_of(
        seen(page, f"/ui/jobs/{job}")
    )

    world.clock.set(world.at(6))
    world.finish_run(run_id, RunState.CANCELLED)
    ended = seen(page, f"/ui/runs/{run_id}")
    assert '<span class="state state-cancelled">cancelled</span>' in ended
    assert "Interrupt requested" not in ended
    assert "An interrupt was requested at 2001-03-05 12:00:04 UTC" in text_of(ended)
    assert badge(ended) is None
    assert "interrupt requested" not in seen(page, f"/ui/jobs/{job}/runs")


def test_the_polled_run_body_costs_the_sessions_user_and_three_reads(
    world: World, page: Browser
) -> None:
    _, run_id = started(world)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(world.engine, "before_cursor_execute", count)
    try:
        assert 'hx-trigger="chronos:follow" data-follow' in seen(page, f"/ui/runs/{run_id}/live")
    finally:
        event.remove(world.engine, "before_cursor_execute", count)
    # The session's user, the run, its job (the owner check), the occurrence's attempts.
    assert len(statements) == 4, statements


def test_another_users_run_and_a_malformed_id_are_404s_for_the_fragment_too(
    world: World, page: Browser, client: testing.TestClient, other_user: Account
) -> None:
    theirs = create_job(client, other_user)
    with world.engine.connect() as conn:
        [their_run] = [
            run["id"] for run in run_repo.list_runs(conn, theirs["id"], limit=1, after=None)
        ]
    assert page.get(f"/ui/runs/{their_run}/live").status_code == 404
    assert page.get(f"/ui/runs/{uuid.uuid4()}/live").status_code == 404
    assert page.get("/ui/runs/not-a-uuid/live").status_code == 404


# --- X3: why didn't it run? ------------------------------------------------------------


def test_an_overlap_skip_links_the_run_that_was_live_when_the_occurrence_was_claimed(
    world: World, page: Browser
) -> None:
    """Claimed ahead of its time (dispatch ahead), the occurrence is skipped for a run
    that ends before its scheduled_for: the blocker is the run live at the claim (the
    skip's finished_at), which a lookup at scheduled_for would miss."""
    ahead = dataclasses.replace(world.settings, dispatch_ahead_seconds=5)
    job = world.submit(schedule=every(60), overlap_policy="forbid")
    dispatcher = world.dispatcher(settings=ahead)
    dispatcher.claim()
    first = world.only_run(job, "queued")["id"]
    world.start_run(first)

    world.clock.set(world.at(57))
    assert dispatcher.claim()[1] == 1  # the 60 s occurrence, 3 s ahead: skipped
    world.clock.set(world.at(58))
    world.finish_run(first)
    [skipped] = [run for run in world.runs(job) if run["state"] == "skipped"]
    assert (skipped["scheduled_for"], skipped["finished_at"]) == (world.at(60), world.at(57))
    with world.engine.connect() as conn:
        assert dashboard_repo.blocking_run(conn, job, skipped["scheduled_for"]) is None

    shown = seen(page, f"/ui/runs/{skipped['id']}")
    assert "an earlier run was still queued or running (overlap_policy forbid)" in shown
    assert f'<a href="/ui/runs/{first}">run {str(first)[:8]}</a> (succeeded)' in shown
    assert "Why it ran late" not in shown  # an overlap skip is no misfire


def test_an_overlap_skip_behind_a_queued_run_links_it_after_it_started(
    world: World, page: Browser
) -> None:
    job = world.submit(schedule=every(60), overlap_policy="forbid")
    dispatcher = world.dispatcher()
    dispatcher.claim()
    first = world.only_run(job, "queued")["id"]  # claimed, no worker has it yet

    world.clock.set(world.at(60))
    assert dispatcher.claim()[1] == 1
    world.clock.set(world.at(61))
    world.start_run(first)
    [skipped] = [run for run in world.runs(job) if run["state"] == "skipped"]

    shown = text_of(seen(page, f"/ui/runs/{skipped['id']}"))
    assert f"It waited behind run {str(first)[:8]} (running)" in shown
    assert "when the scheduler claimed this occurrence, at 2001-03-05 12:01:00 UTC" in shown


def test_a_misfire_skip_shows_how_late_it_was_claimed_and_what_skip_did(
    world: World, page: Browser
) -> None:
    job = world.submit(schedule=every(600), misfire_policy="skip")
    world.clock.set(world.at(3600 + 30))
    assert world.dispatcher().claim()[1] == 1
    skipped, following = world.runs(job)

    shown = text_of(seen(page, f"/ui/runs/{skipped['id']}"))
    assert "Why it did not run missed by 3630 s (misfire_policy skip)" in shown
    assert (
        "Scheduled for 2001-03-05 12:00:00 UTC (1 h ago), claimed at 2001-03-05 13:00:30 UTC "
        "(just now): 3630 s late, past the 1 minute misfire grace: misfire_policy skip "
        "recorded it as skipped instead of running it late, and the schedule went on from "
        "the claim." in shown
    )
    assert "Why it" not in text_of(seen(page, f"/ui/runs/{following['id']}"))  # pending


@pytest.mark.parametrize(
    ("policy", "claims", "late", "done"),
    [
        ("run_once", 1, 3630, "misfire_policy run_once ran it once, late, in place of every"),
        # The second missed occurrence, replayed right after the first.
        ("run_all", 2, 3030, "misfire_policy run_all ran it late, and runs each occurrence"),
    ],
)
def test_a_late_occurrence_that_ran_says_what_its_misfire_policy_did(
    world: World, page: Browser, policy: str, claims: int, late: int, done: str
) -> None:
    job = world.submit(schedule=every(600), misfire_policy=policy, overlap_policy="allow")
    world.clock.set(world.at(3600 + 30))
    dispatcher = world.dispatcher()
    for _ in range(claims):
        assert dispatcher.claim()[1] == 0
    ran = [run for run in world.runs(job) if run["state"] == "queued"][-1]
    assert ran["queued_at"] == world.now

    shown = text_of(seen(page, f"/ui/runs/{ran['id']}"))
    assert "Why it ran late" in shown
    assert "Why it did not run" not in shown
    assert f"claimed at 2001-03-05 13:00:30 UTC (just now): {late} s late" in shown
    assert done in shown

    # Its next occurrence, claimed on time, tells no misfire.
    [pending] = [run for run in world.runs(job) if run["state"] == "pending"]
    world.clock.set(pending["scheduled_for"])
    assert dispatcher.claim()[1] == 0
    assert world.run(pending["id"])["state"] == "queued"
    assert "Why it ran late" not in seen(page, f"/ui/runs/{pending['id']}")
