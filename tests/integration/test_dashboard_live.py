"""The live pages (overview, queues, workers) and their panels, on a database of their
own so that every count is known, with a fixed clock: what they count, who sees what,
the queue controls, and the per-tick cache that lets ten browsers poll for the price of
one."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine, event, text

from api.app import create_app
from scheduler.rollups import Rollup
from shared.clock import FixedClock
from shared.db import make_engine
from shared.repository import rollups as rollup_repo
from shared.repository import workers as worker_repo
from shared.settings import Settings
from tests.conftest import sibling_database
from tests.integration.conftest import Account, insert_account
from tests.integration.dispatch_helpers import open_world
from tests.integration.test_api_metrics import app_at, scrape
from tests.integration.test_api_metrics import value as metric
from tests.integration.test_dashboard import Browser, parsed

# Near the real time: the session's token is checked against it (its expiry).
NOW = datetime.now(UTC).replace(second=30, microsecond=0)
PASSWORD = "correct horse battery"
INSERT_JOB = text(
    """
    INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at, timezone,
        status, run_count, max_attempts, retry_backoff_seconds, timeout_seconds,
        misfire_policy, overlap_policy, created_at, updated_at)
    VALUES (:id, :owner, :name, 'noop', '{}'::jsonb, :queue, 0, :at, 'UTC', 'scheduled',
        0, 1, 30, 60, 'run_once', 'allow', :at, :at)
    """
)
INSERT_RUN = text(
    """
    INSERT INTO runs (id, job_id, owner_id, queue, attempt, origin, priority, scheduled_for,
        due_at, state, queued_at, started_at, heartbeat_at, finished_at, worker, created_at)
    VALUES (gen_random_uuid(), :job, :owner, :queue, 1, 'manual', 0, :scheduled, :due,
        :state, :queued, :started, :started, :finished, :worker, :scheduled)
    """
)


@pytest.fixture(scope="module")
def own_engine(database_url: str) -> Iterator[Engine]:
    with sibling_database(database_url, "live") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def clean(own_engine: Engine) -> Engine:
    with own_engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE runs, jobs, users, workers, queues, audit_events, run_stats_minute, "
                "run_stats_hour, job_stats_hour, rolled_minutes CASCADE"
            )
        )
    return own_engine


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def live_app(clean: Engine, settings: Settings, clock: FixedClock) -> Any:
    return create_app(settings, clock=clock, engine=clean)


def account(engine: Engine, role: str) -> Account:
    return insert_account(engine, Settings(), role, PASSWORD, NOW)


def signed_in(app: Any, who: Account) -> Browser:
    browser = Browser(testing.TestClient(app))
    assert browser.sign_in(who).status_code == 303
    return browser


def add_job(engine: Engine, owner: Account, queue: str = "default") -> uuid.UUID:
    job_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            INSERT_JOB,
            {"id": job_id, "owner": owner.id, "name": f"j{job_id.hex[:6]}", "queue": queue,
             "at": NOW - timedelta(days=1)},
        )  # fmt: skip
    return job_id


def add_run(
    engine: Engine,
    owner: Account,
    job_id: uuid.UUID,
    state: str,
    *,
    scheduled: datetime,
    queue: str = "default",
    lag: float | None = None,
    finished: datetime | None = None,
    worker: str | None = None,
) -> None:
    started = None if lag is None else scheduled + timedelta(seconds=lag)
    with engine.begin() as conn:
        conn.execute(
            INSERT_RUN,
            {
                "job": job_id,
                "owner": owner.id,
                "queue": queue,
                "scheduled": scheduled,
                "due": scheduled if state != "queued" else None,
                "state": state,
                "queued": scheduled if state in ("queued", "running") or started else None,
                "started": started,
                "finished": finished,
                "worker": worker or ("h:1" if started is not None else None),
            },
        )


def shown(html: str, name: str) -> str:
    found = re.search(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert found is not None, f"no {name} in the page"
    return found.group(1).strip()


def seed(engine: Engine, owner: Account, other: Account) -> None:
    """Two users' runs: the owner's 2 due, 1 later, 1 queued, 3 running, and 3 ended in
    the last hour; the other user's 1 running."""
    job = add_job(engine, owner)
    for back in (10, 20):
        add_run(engine, owner, job, "pending", scheduled=NOW - timedelta(seconds=back))
    add_run(engine, owner, job, "pending", scheduled=NOW + timedelta(hours=1))
    add_run(engine, owner, job, "queued", scheduled=NOW - timedelta(seconds=5))
    for _ in range(3):
        add_run(engine, owner, job, "running", scheduled=NOW - timedelta(seconds=3), lag=0.5)
    ended = NOW - timedelta(minutes=5)
    for state, lag in (("succeeded", 0.02), ("succeeded", 0.02), ("failed", 3.0)):
        add_run(engine, owner, job, state, scheduled=ended, lag=lag, finished=ended)
    other_job = add_job(engine, other)
    add_run(engine, other, other_job, "running", scheduled=NOW - timedelta(seconds=3), lag=0.1)


def test_the_overview_counts_every_run_by_state_for_an_admin(
    live_app: Any, clean: Engine, clock: FixedClock
) -> None:
    owner, other, admin = (account(clean, r) for r in ("user", "user", "admin"))
    seed(clean, owner, other)
    assert Rollup(clean, clock).run_once() > 0
    page = signed_in(live_app, admin).get("/ui/")
    assert page.status_code == 200, page.text
    html = page.text
    assert shown(html, "count-due") == "2"
    assert shown(html, "count-scheduled") == "1"
    assert shown(html, "count-queued") == "1"
    assert shown(html, "count-running") == "4"  # both users' runs
    assert shown(html, "count-succeeded") == "2"
    assert shown(html, "count-failed") == "1"
    assert shown(html, "count-lost") == "0"
    # Three runs started, two 20 ms late and one 3 s late: the median is in the 10 to
    # 25 ms bucket, the 99th in the 2.5 to 5 s one, and the maximum is measured.
    assert shown(html, "lag-p50") == "≤ 25 ms"
    assert shown(html, "lag-p99") == "≤ 5 s"
    assert shown(html, "lag-max") == "3 s"
    assert shown(html, "count-overdue") == "0 overdue"
    assert '<svg class="chart"' in html


def test_a_user_sees_only_their_own_runs_and_no_tenant_wide_throughput(
    live_app: Any, clean: Engine
) -> None:
    owner, other = account(clean, "user"), account(clean, "user")
    seed(clean, owner, other)
    browser = signed_in(live_app, other)
    html = browser.get("/ui/").text
    assert shown(html, "count-running") == "1"
    assert shown(html, "count-due") == "0"
    assert 'data-testid="count-succeeded"' not in html
    assert '<svg class="chart"' not in html
    assert "an admin's view" in html
    assert browser.get("/ui/workers").status_code == 403
    # The fragment answers the same, scoped, and keeps its own polling attribute.
    fragment = browser.get("/ui/live/counts")
    assert fragment.status_code == 200
    assert shown(fragment.text, "count-running") == "1"
    assert 'hx-get="/ui/live/counts"' in fragment.text
    assert "<html" not in fragment.text


def test_an_unknown_panel_is_a_404_page(live_app: Any, clean: Engine) -> None:
    browser = signed_in(live_app, account(clean, "admin"))
    result = browser.get("/ui/live/nope")
    assert result.status_code == 404
    assert "panel" in result.text


def test_ten_polling_clients_cost_one_query_set_per_tick(
    live_app: Any, clean: Engine, clock: FixedClock
) -> None:
    owner, other, admin = (account(clean, r) for r in ("user", "user", "admin"))
    seed(clean, owner, other)
    clients = [signed_in(live_app, admin) for _ in range(10)]
    panels = ("counts", "throughput", "queues", "workers", "overdue")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def poll(browser: Browser) -> list[int]:
        """Statements run for each panel this client fetches."""
        spent = []
        for panel in panels:
            before = len(statements)
            assert browser.get(f"/ui/live/{panel}").status_code == 200
            spent.append(len(statements) - before)
        return spent

    event.listen(clean, "before_cursor_execute", count)
    try:
        for _ in range(2):  # two ticks
            clock.advance(1)
            first = poll(clients[0])
            rest = [poll(browser) for browser in clients[1:]]
            # The first client of the tick pays for the data (beyond its sign-in check);
            # each other one only for its sign-in check, one statement a fragment.
            assert sum(first) > len(panels)
            assert all(spent == [1] * len(panels) for spent in rest), rest
    finally:
        event.remove(clean, "before_cursor_execute", count)
    # What the first client paid: one sign-in check per fragment, and the data: the
    # queues (counts and queue table share it), the minutes, the workers, the overdue
    # count, each once.
    assert sum(first) == len(panels) + 4


def test_a_new_tick_reads_the_database_again(
    live_app: Any, clean: Engine, clock: FixedClock
) -> None:
    owner = account(clean, "user")
    browser = signed_in(live_app, owner)
    clock.advance(1)
    assert shown(browser.get("/ui/live/counts").text, "count-due") == "0"
    job = add_job(clean, owner)
    add_run(clean, owner, job, "pending", scheduled=NOW - timedelta(seconds=1))
    assert shown(browser.get("/ui/live/counts").text, "count-due") == "0"  # same tick
    clock.advance(1)
    assert shown(browser.get("/ui/live/counts").text, "count-due") == "1"


def test_the_queues_page_shows_each_queue_and_an_admin_pauses_and_resumes_it(
    live_app: Any, clean: Engine, clock: FixedClock
) -> None:
    owner, admin = account(clean, "user"), account(clean, "admin")
    job = add_job(clean, owner)
    add_run(clean, owner, job, "pending", scheduled=NOW - timedelta(seconds=90))
    browser = signed_in(live_app, admin)
    html = browser.get("/ui/queues").text
    row = re.search(r'<tr data-queue="default">(.*?)</tr>', html, re.S)
    assert row is not None
    assert shown(row.group(1), "queue-due") == "1"
    assert "<td>90 s</td>" in row.group(1)  # the oldest due run's age
    token = parsed(html).inputs["csrf_token"]
    result = browser.post("/ui/queues/default/pause", {"csrf_token": token})
    assert result.status_code == 303
    assert result.headers["Location"] == "/ui/queues?done=pause"
    html = browser.get("/ui/queues?done=pause").text
    assert "The queue was paused" in html
    assert 'data-testid="queue-paused"' in html
    with clean.connect() as conn:
        assert conn.scalar(text("SELECT paused FROM queues WHERE name = 'default'")) is True
        action = conn.scalar(text("SELECT action FROM audit_events ORDER BY at DESC LIMIT 1"))
    assert action == "queue.update"
    assert browser.post("/ui/queues/default/resume", {"csrf_token": token}).status_code == 303
    with clean.connect() as conn:
        assert conn.scalar(text("SELECT paused FROM queues WHERE name = 'default'")) is False


def test_the_concurrency_form_is_validated_like_the_json_api(live_app: Any, clean: Engine) -> None:
    browser = signed_in(live_app, account(clean, "admin"))
    token = browser.csrf("/ui/queues")
    for value, status in (("abc", 400), ("0", 400), ("10001", 400)):
        result = browser.post(
            "/ui/queues/default/concurrency", {"csrf_token": token, "concurrency": value}
        )
        assert result.status_code == status, (value, result.text[:300])
        assert "concurrency" in result.text
    assert (
        browser.post(
            "/ui/queues/default/concurrency", {"csrf_token": token, "concurrency": "7"}
        ).status_code
        == 303
    )
    with clean.connect() as conn:
        assert conn.scalar(text("SELECT concurrency FROM queues WHERE name = 'default'")) == 7
    assert (
        browser.post(
            "/ui/queues/default/concurrency", {"csrf_token": token, "concurrency": ""}
        ).status_code
        == 303
    )
    with clean.connect() as conn:
        assert conn.scalar(text("SELECT concurrency FROM queues WHERE name = 'default'")) is None
    assert browser.post("/ui/queues/nope/pause", {"csrf_token": token}).status_code == 404
    assert browser.post("/ui/queues/default/explode", {"csrf_token": token}).status_code == 404


def test_only_an_admin_changes_a_queue(live_app: Any, clean: Engine) -> None:
    browser = signed_in(live_app, account(clean, "user"))
    html = browser.get("/ui/queues").text
    assert "/ui/queues/default/pause" not in html  # no controls shown
    token = parsed(html).inputs["csrf_token"]
    assert browser.post("/ui/queues/default/pause", {"csrf_token": token}).status_code == 403
    assert browser.post("/ui/queues/default/pause", {"csrf_token": "forged"}).status_code == 403
    with clean.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM queues WHERE paused")) == 0


def test_the_workers_page_lists_registered_idle_workers_and_ones_holding_runs(
    live_app: Any, clean: Engine, clock: FixedClock
) -> None:
    owner, admin = account(clean, "user"), account(clean, "admin")
    job = add_job(clean, owner)
    with clean.begin() as conn:
        worker_repo.register(conn, "alpha:10", ["default"], 8, 2, NOW - timedelta(seconds=2))
        worker_repo.register(conn, "beta:20", ["default"], 8, 0, NOW - timedelta(seconds=3))
        worker_repo.register(conn, "gone:30", ["default"], 8, 0, NOW - timedelta(minutes=20))
        worker_repo.register(conn, "ancient:40", ["default"], 8, 0, NOW - timedelta(hours=3))
    for name in ("alpha:10", "alpha:10", "legacy:50"):
        add_run(clean, owner, job, "running", scheduled=NOW - timedelta(seconds=4), lag=1,
                worker=name)  # fmt: skip
    html = signed_in(live_app, admin).get("/ui/workers").text
    rows = dict(re.findall(r'<tr data-worker="([^"]+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"alpha:10", "beta:20", "gone:30", "legacy:50"}
    assert shown(rows["alpha:10"], "worker-running") == "2"
    assert shown(rows["beta:20"], "worker-running") == "0"  # idle, still listed
    assert shown(rows["legacy:50"], "worker-running") == "1"
    assert "not registered" in rows["legacy:50"]
    assert "silent" in rows["gone:30"]
    assert "silent" not in rows["beta:20"]


@pytest.mark.parametrize("seconds", [0, 5, 15])
def test_the_refresh_control_starts_at_the_configured_interval_and_offers_it(
    clean: Engine, settings: Settings, clock: FixedClock, seconds: int
) -> None:
    app = create_app(dataclasses.replace(settings, ui_refresh_seconds=seconds), clock=clock,
                     engine=clean)  # fmt: skip
    html = signed_in(app, account(clean, "admin")).get("/ui/").text
    assert f'id="refresh" data-default="{seconds}"' in html
    offered = re.findall(r'<option value="(\d+)">', html)
    assert offered[0] == "0"  # off
    assert str(seconds) in offered  # 15 is no standard choice, and is offered all the same
    assert offered == sorted(set(offered), key=int)  # once each, in order
    assert html.count("data-live") == 5


def lag_rows(html: str, group: str, name: str) -> dict[str, dict[str, str]]:
    """A lag table's rows for one queue or type: window -> {p50: ..., p99: ...}."""
    table = re.search(rf'<table class="lag" data-group="{group}"[^>]*>(.*?)</table>', html, re.S)
    assert table is not None
    body = re.search(rf'<tbody data-name="{re.escape(name)}">(.*?)</tbody>', table.group(1), re.S)
    assert body is not None, f"no {name} in the {group} table"
    return {
        window: {
            key: shown(row, f"lag-{key}") for key in ("started", "p50", "p95", "p99", "max", "late")
        }
        for window, row in re.findall(r'<tr data-window="([^"]+)">(.*?)</tr>', body.group(1), re.S)
    }


def test_lag_percentiles_per_window_come_from_the_rollups_and_survive_a_restart(
    live_app: Any, clean: Engine, clock: FixedClock, settings: Settings
) -> None:
    """X2: runs with known lags, rolled up by the rollup's own pass; then the page."""
    owner, admin = account(clean, "user"), account(clean, "admin")
    job = add_job(clean, owner)
    ended = {
        "20d": NOW - timedelta(days=20),
        "3d": NOW - timedelta(days=3),
        "3h": NOW - timedelta(hours=3),
        "10m": NOW - timedelta(minutes=10),
    }
    lags = {"20d": [100.0], "3d": [20.0], "3h": [0.3, 0.3], "10m": [0.004, 0.004, 0.004, 7.0]}
    for when, each in lags.items():
        for lag in each:
            scheduled = ended[when] - timedelta(seconds=lag + 1)
            add_run(clean, owner, job, "succeeded", scheduled=scheduled, lag=lag,
                    finished=ended[when])  # fmt: skip
    # The older minutes one by one (as the pass does, without walking 20 days of empty
    # minutes in a test), then the pass itself for the last three hours.
    for when in ("20d", "3d", "3h"):
        with clean.begin() as conn:
            minute = ended[when].replace(second=0, microsecond=0)
            assert rollup_repo.roll_minute(conn, minute, NOW) == 1
    assert Rollup(clean, clock).run_once() > 0
    html = signed_in(live_app, admin).get("/ui/lag?window=30d").text
    rows = lag_rows(html, "queues", "default")
    assert rows["1h"] == {"started": "4", "p50": "≤ 5 ms", "p95": "≤ 10 s", "p99": "≤ 10 s",
                          "max": "7 s", "late": "1"}  # fmt: skip
    assert rows["24h"]["started"] == "6"
    assert rows["24h"]["p50"] == "≤ 5 ms"  # rank 3 of 6: the third 4 ms run
    assert rows["7d"] == {"started": "7", "p50": "≤ 500 ms", "p95": "≤ 30 s", "p99": "≤ 30 s",
                          "max": "20 s", "late": "2"}  # fmt: skip
    assert rows["30d"]["started"] == "8"
    assert (rows["30d"]["p99"], rows["30d"]["max"]) == ("≤ 5 min", "100 s")
    assert lag_rows(html, "types", "noop") == rows  # one queue, one type: the same runs
    buckets = {i: shown(html, f"bucket-{i}") for i in range(17)}
    assert {i: n for i, n in buckets.items() if n != "0"} == {
        0: "3",
        6: "2",
        10: "1",
        11: "1",
        13: "1",
    }
    # A restarted API (a new process: nothing cached, nothing in memory) shows the same.
    restarted = create_app(settings, clock=clock, engine=clean)
    again = signed_in(restarted, admin).get("/ui/lag?window=30d").text
    assert lag_rows(again, "queues", "default") == rows
    # The job's own lag, for its owner, from its hourly rollups.
    ledger = signed_in(live_app, owner).get(f"/ui/jobs/{job}/ledger")
    assert ledger.status_code == 200, ledger.text[:300]
    mine = lag_rows(ledger.text, "job", str(job))
    assert {window: row["started"] for window, row in mine.items()} == {
        "1h": "4", "24h": "6", "7d": "7", "30d": "8"
    }  # fmt: skip
    assert mine["30d"] == rows["30d"]
    assert signed_in(live_app, owner).get("/ui/lag").status_code == 403
    assert signed_in(live_app, admin).get("/ui/lag?window=2y").status_code == 400


def test_a_dashboard_action_is_one_log_line_with_who_what_and_how_many(
    live_app: Any, clean: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    admin = account(clean, "admin")
    browser = signed_in(live_app, admin)
    token = browser.csrf("/ui/queues")
    with caplog.at_level("INFO", logger="chronos.api.dashboard"):
        assert browser.post("/ui/queues/other/pause", {"csrf_token": token}).status_code == 303
    (line,) = [r for r in caplog.records if r.name == "chronos.api.dashboard"]
    assert (line.ui_action, line.ui_target, line.ui_count) == ("queue pause", "queue other", 1)  # type: ignore[attr-defined]
    assert line.ui_user == admin.id  # type: ignore[attr-defined]
    assert admin.username in line.getMessage()


def test_a_signed_out_panel_sends_the_whole_page_to_sign_in(live_app: Any) -> None:
    client = testing.TestClient(live_app)
    result = client.simulate_get(
        "/ui/live/counts",
        headers={"HX-Request": "true", "HX-Current-URL": "http://127.0.0.1:8000/ui/queues?x=1"},
    )
    assert result.status_code == 401
    assert result.headers["HX-Redirect"] == "/ui/login?next=%2Fui%2Fqueues%3Fx%3D1"
    foreign = client.simulate_get(
        "/ui/live/counts",
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/ui/jobs"},
    )
    assert foreign.headers["HX-Redirect"] == "/ui/login?next=%2Fui%2Fjobs"
    plain = client.simulate_get("/ui/live/counts")  # a browser, not htmx: the usual 303
    assert plain.status_code == 303


def test_an_overdue_schedule_reads_one_on_the_overview_schedules_and_gauge_until_claimed(
    clean: Engine, settings: Settings
) -> None:
    """X6: the dispatcher stopped and the clock two minutes past a recurring job's due
    run: the overview's count, the schedules badge and the gauge all read 1. Once a
    scheduler runs again and claims it, all three read 0."""
    owner, admin = account(clean, "user"), account(clean, "admin")
    with contextlib.contextmanager(open_world)(settings, clean, owner.id, start=NOW) as world:
        job_id = world.submit(schedule={"run_at": world.now.isoformat(), "interval_seconds": 3600})
        app = create_app(world.settings, clock=world.clock, engine=clean)
        browser = signed_in(app, admin)

        def readings() -> tuple[str, str, float | None]:
            world.clock.advance(1)  # a new tick: nothing cached
            return (
                shown(browser.get("/ui/").text, "count-overdue"),
                shown(browser.get("/ui/schedules").text, "overdue-count"),
                # A fresh app each time: a scrape's reads are shared for a few seconds.
                metric(scrape(app_at(world.settings, clean, world.now)), "chronos_overdue_jobs"),
            )

        assert readings() == ("0 overdue", "0 overdue", 0)
        world.clock.advance(119)  # two minutes past due, and no scheduler claimed it
        assert readings() == ("1 overdue", "1 overdue", 1)
        assert world.dispatcher().run_once().claimed == 1  # a scheduler is back
        assert world.only_run(job_id, "queued")
        assert readings() == ("0 overdue", "0 overdue", 0)


def test_each_scope_has_its_own_answer_in_one_tick(live_app: Any, clean: Engine) -> None:
    owner, other, admin = (account(clean, r) for r in ("user", "user", "admin"))
    seed(clean, owner, other)
    running = {
        who.username: shown(signed_in(live_app, who).get("/ui/live/counts").text, "count-running")
        for who in (admin, owner, other, admin)
    }
    assert running == {admin.username: "4", owner.username: "3", other.username: "1"}


def test_ten_clients_at_once_in_a_new_tick_run_the_queries_once(
    live_app: Any, clean: Engine, clock: FixedClock
) -> None:
    """The stampede: the first of the tick computes while the nine others wait for it."""
    owner, other, admin = (account(clean, r) for r in ("user", "user", "admin"))
    seed(clean, owner, other)
    clients = [signed_in(live_app, admin) for _ in range(10)]
    lone = signed_in(live_app, admin)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(clean, "before_cursor_execute", count)
    try:
        clock.advance(1)
        assert lone.get("/ui/live/queues").status_code == 200
        alone = len(statements) - 1  # beyond its sign-in check
        statements.clear()
        clock.advance(1)
        gate = threading.Barrier(len(clients))

        def poll(browser: Browser) -> int:
            gate.wait()
            return int(browser.get("/ui/live/queues").status_code)

        with ThreadPoolExecutor(len(clients)) as pool:
            assert list(pool.map(poll, clients)) == [200] * len(clients)
    finally:
        event.remove(clean, "before_cursor_execute", count)
    assert alone > 0
    assert len(statements) == len(clients) + alone  # ten sign-in checks, one query set
