"""The live dashboard pages in a real browser (Debian's Chromium), against a real stack of
their own: the overview's panels and its refresh control, the queues page's pause and
resume, the workers page, the run page's heartbeat badge after ``kill -9`` of the
worker, the overdue badge while the scheduler is stopped, and the screenshots of the
operator pages (with ``CHRONOS_SCREENSHOT_DIR`` set).

The tests talk to the stack over HTTP only: the JSON API sets things up, the browser
checks. The stack is their own (database suffix ``uiops``, its own queue prefix), with
a 1 s heartbeat and a 5 s lease, so a killed worker's run is lost within seconds, and a
2 s default refresh, so the control's default is this setting and not the built-in one.
They run in file order: the worker and scheduler they stop are started again before
the next test, and the screenshots come last, when the earlier tests' runs have been
rolled up for the charts.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_dashboard import PASSWORD, TIMEOUT_MS, screenshot
from tests.browser.watched import Watched
from tests.conftest import UNLIMITED_USERS
from tests.e2e.client import Client, rfc3339
from tests.e2e.stack import VENV_BIN, Stack, own_stack
from tests.e2e.waiting import Unmet, wait_for

HEARTBEAT_SECONDS = 1
LEASE_SECONDS = 5
REFRESH_SECONDS = 2
# The throughput chart reads the rollups, written every 10 s for minutes closed 5 s ago:
# a run that ended just after a minute began is charted some 75 s later at most.
ROLLUP_WAIT_MS = 90_000
# A poll of a live panel, or of a live run's body, that leaving the page cuts short.
LIVE_POLL = re.compile(r"/ui/(live/[a-z-]+|runs/[0-9a-f-]+/live)$")


@pytest.fixture(scope="module")
def stack(
    database_url: str, queue_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHRONOS_")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "PYTHONUNBUFFERED": "1",
            "CHRONOS_QUEUE_PREFIX": queue_prefix,
            "CHRONOS_QUEUES": "default,other",
            "CHRONOS_JWT_SECRET": "dashboard-ops-secret-" + "o" * 40,
            "CHRONOS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "CHRONOS_LEASE_SECONDS": str(LEASE_SECONDS),
            "CHRONOS_UI_REFRESH_SECONDS": str(REFRESH_SECONDS),
            "CHRONOS_WORKER_PROCESSES": "1",
            "CHRONOS_WORKER_THREADS": "4",
            "CHRONOS_API_WORKERS": "2",
            "CHRONOS_SIGNUPS_PER_MINUTE": "100000",
            "CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
            **UNLIMITED_USERS,
        }
    )
    logs = tmp_path_factory.mktemp("chronos-dashboard-ops-logs")
    with own_stack(env, database_url, "uiops", logs) as running:
        yield running


class Admin:
    """An account the browser signs in as, made an admin over HTTP by the operator's
    admin (``python -m api.admin``, which is how the harness makes one)."""

    def __init__(self, stack: Stack) -> None:
        self.username = f"ops{uuid.uuid4().hex[:10]}"
        body = {"username": self.username, "password": PASSWORD}
        created = Client(stack.url).expect("POST", "/users/create", 201, body)
        operator = Client(stack.url, stack.admin_token())
        path = f"/users/{created['user']['id']}/update"
        operator.expect("PUT", path, 200, {"role": "admin"})
        # The role change ended the sign-up's token: a new one carries the role.
        token = Client(stack.url).expect("POST", "/auth/token", 200, body)["access_token"]
        self.api = Client(stack.url, token)


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Admin:
    return Admin(stack)


@pytest.fixture(scope="module")
def activity(admin: Admin) -> list[dict[str, Any]]:
    """Runs ended early in the module, some failed, so that by the screenshots their
    minute is rolled up and the chart, the lag tables and the counts have something."""
    jobs = [admin.api.submit(type="noop", name=f"warm-up-{i}") for i in range(6)]
    jobs += [
        admin.api.submit(type="fail", name=f"warm-up-fails-{i}", payload={"message": "boom"})
        for i in range(3)
    ]

    def ended() -> bool:
        return all(admin.api.job(job["id"])["status"] in ("succeeded", "failed") for job in jobs)

    wait_for(ended, timeout=60, interval=0.2, message="the warm-up jobs to end")
    return jobs


@pytest.fixture(autouse=True)
def processes_running(stack: Stack) -> None:
    """Each test starts with a scheduler and a worker: a test that stops one starts it
    again, but may have failed before it could."""
    stack.check_alive()
    if "scheduler" not in stack.processes:
        start_scheduler(stack)
    if "worker" not in stack.processes:
        stack.start_worker()


class LiveWatched(Watched):
    """A watched page on which a live poll cut short by leaving the page (the browser
    aborts it) is no error: the overview polls five panels a tick, so a click or reload
    often lands during one. Any other failed request still fails the test."""

    def __init__(self, browser: Any, origin: str, **context_options: Any) -> None:
        super().__init__(browser, origin, **context_options)
        self.aborted: list[str] = []
        self.page.on("requestfailed", self._failed)

    def _failed(self, request: Any) -> None:
        if request.failure == "net::ERR_ABORTED" and LIVE_POLL.search(request.url):
            self.aborted.append(f"request failed: {request.url}")

    def assert_clean(self) -> None:
        errors = list(self.errors)
        for aborted in self.aborted:
            errors.remove(aborted)
        self.errors = errors
        super().assert_clean()


@pytest.fixture
def watched(browser: Any, stack: Stack) -> Iterator[LiveWatched]:
    page = LiveWatched(browser, stack.url, viewport={"width": 1400, "height": 900})
    page.page.set_default_timeout(TIMEOUT_MS)
    yield page
    page.close()


def sign_in(page: Page, base: str, admin: Admin) -> None:
    page.goto(f"{base}/ui/login")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()


def notice(page: Page, text: str) -> Locator:
    return page.get_by_role("status").filter(has_text=text)


def reload_until(page: Page, locator: Locator, text: str, timeout: float) -> None:
    """Reload the page until ``locator`` reads ``text``: for a page that does not poll.
    A navigation still loading is let finish first: a reload would cut its loads short."""
    page.wait_for_load_state()

    def shows() -> bool | Unmet:
        page.reload()
        shown = locator.inner_text()
        return shown == text or Unmet(shown)

    wait_for(shows, timeout=timeout, interval=0.5, message=f"the page to show {text!r}")


def ended(pid: int) -> bool:
    """No such process, or a zombie not reaped yet (its parent was killed too)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def stop_scheduler(stack: Stack) -> None:
    """SIGTERM, and wait for the process to exit (the harness kills what outstays its
    grace period)."""
    scheduler = stack.processes["scheduler"]
    stack.stop_process("scheduler")
    assert scheduler.popen.returncode == 0, "the scheduler did not stop on SIGTERM"


def start_scheduler(stack: Stack) -> None:
    stack.spawn("scheduler", "scheduler")


def test_a_paused_queue_is_shown_and_resumed(
    watched: LiveWatched, stack: Stack, admin: Admin, activity: list[dict[str, Any]]
) -> None:
    page = watched.page
    sign_in(page, stack.url, admin)
    page.get_by_role("link", name="Queues").click()
    page.get_by_role("heading", name="Queues", level=1).wait_for()
    row = page.locator('tr[data-queue="default"]')
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Pause").click()
    try:
        notice(page, "The queue was paused").wait_for()
        assert questions == ["Pause queue default? Its runs wait until it is resumed."]
        job = admin.api.submit(type="noop", name="waits-for-resume")
        # The panel polls on the refresh control's tick: no reload.
        expect(row.get_by_test_id("queue-paused")).to_have_text("paused")
        expect(row.get_by_test_id("queue-due")).to_have_text("1", timeout=TIMEOUT_MS)
        assert [run["state"] for run in admin.api.runs(job["id"])] == ["pending"]
        row.get_by_role("button", name="Resume").click()  # no dialog: resuming is safe
        notice(page, "The queue was resumed.").wait_for()
    finally:
        admin.api.post("/queues/default/resume")
    expect(row.get_by_test_id("queue-paused")).to_have_count(0)
    assert questions == ["Pause queue default? Its runs wait until it is resumed."]
    wait_for(
        lambda: admin.api.job(job["id"])["status"] == "succeeded",
        timeout=30,
        interval=0.1,
        message="the waiting run to succeed once the queue is resumed",
    )
    watched.assert_clean()


def test_refresh_control_and_keyboard(watched: LiveWatched, stack: Stack, admin: Admin) -> None:
    page = watched.page
    sign_in(page, stack.url, admin)
    refresh = page.get_by_label("Refresh")
    expect(refresh).to_have_value(str(REFRESH_SECONDS))  # CHRONOS_UI_REFRESH_SECONDS
    running = page.get_by_test_id("count-running")
    expect(running).to_have_text("0")
    refresh.select_option("1")
    assert page.evaluate("localStorage.getItem('chronos-refresh')") == "1"
    page.evaluate("window.chronosNotReloaded = true")
    job = admin.api.submit(type="sleep", name="keeps-running", payload={"seconds": 60})
    expect(running).to_have_text("1", timeout=TIMEOUT_MS)
    admin.api.expect("DELETE", f"/jobs/{job['id']}", 200)
    expect(running).to_have_text("0", timeout=TIMEOUT_MS)
    assert page.evaluate("window.chronosNotReloaded") is True  # the panel moved alone

    refresh.blur()  # a key pressed in a field is the field's
    page.keyboard.press("r")
    expect(page.locator("#refresh-state")).to_have_text("paused")
    expect(refresh).to_have_value("0")
    page.keyboard.press("r")
    expect(page.locator("#refresh-state")).to_have_text("")
    expect(refresh).to_have_value("1")  # back to the last rate chosen

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    help_dialog.wait_for()
    for key, words in (("q", "Queues"), ("w", "Workers"), ("r", "Live refresh off")):
        row = help_dialog.get_by_role("row").filter(has=page.locator("kbd", has_text=key))
        expect(row).to_contain_text(words)
    help_dialog.get_by_role("button", name="Close").click()
    help_dialog.wait_for(state="hidden")
    for key, heading in (("q", "Queues"), ("w", "Workers")):
        page.wait_for_load_state("domcontentloaded")
        page.keyboard.press(key)
        page.get_by_role("heading", name=heading, level=1).wait_for()
    assert page.url == f"{stack.url}/ui/workers"
    watched.assert_clean()


def test_the_overdue_badge_while_the_scheduler_is_stopped(
    watched: LiveWatched, stack: Stack, admin: Admin
) -> None:
    page = watched.page
    sign_in(page, stack.url, admin)
    overview_badge = page.get_by_test_id("count-overdue")
    expect(overview_badge).to_have_text("0 overdue")
    stop_scheduler(stack)
    try:
        # OVERDUE_AFTER is a fixed minute: the first occurrence is made two minutes
        # past due (the API takes up to five), and no scheduler is there to claim it.
        first = datetime.now(UTC) - timedelta(minutes=2)
        job = admin.api.submit(
            type="noop",
            name="every-minute-stalled",
            schedule={"interval_seconds": 60, "run_at": rfc3339(first.timestamp())},
        )
        assert [run["state"] for run in admin.api.runs(job["id"])] == ["pending"]
        expect(overview_badge).to_have_text("1 overdue", timeout=TIMEOUT_MS)
        overview_badge.click()  # the badge links to the overdue schedules
        page.wait_for_url(re.compile(r"/ui/schedules\?health=overdue$"))
        schedules_badge = page.get_by_test_id("overdue-count")
        expect(schedules_badge).to_have_text("1 overdue")
        expect(page.get_by_role("row").filter(has_text="every-minute-stalled")).to_have_count(1)
    finally:
        start_scheduler(stack)
    reload_until(page, schedules_badge, "0 overdue", timeout=30)
    expect(page.get_by_role("row").filter(has_text="every-minute-stalled")).to_have_count(0)
    page.get_by_role("link", name="Overview").click()
    page.wait_for_url(f"{stack.url}/ui/")
    reload_until(page, overview_badge, "0 overdue", timeout=10)
    states = [run["state"] for run in admin.api.runs(job["id"])]
    assert states[0] in ("queued", "running", "succeeded")  # the missed one ran (run_once)
    admin.api.expect("DELETE", f"/jobs/{job['id']}", 200)
    watched.assert_clean()


def test_a_killed_workers_run_turns_red_then_lost(
    watched: LiveWatched, stack: Stack, admin: Admin
) -> None:
    job = admin.api.submit(
        type="sleep",
        name="killed-mid-sleep",
        payload={"seconds": 120},
        max_attempts=2,
        retry_backoff_seconds=600,  # the retry waits: the test cancels it
    )

    def running() -> dict[str, Any] | None:
        return next((r for r in admin.api.runs(job["id"]) if r["state"] == "running"), None)

    wait_for(running, timeout=30, interval=0.1, message="the sleep run to be running")
    run = admin.api.runs(job["id"])[0]
    # The run's worker (host:pid) is a process of the worker's group, the one killed.
    worker_name = run["worker"]
    pid = int(worker_name.rsplit(":", 1)[1])
    assert os.getpgid(pid) == stack.processes["worker"].pgid
    page = watched.page
    sign_in(page, stack.url, admin)
    page.goto(f"{stack.url}/ui/runs/{run['id']}")
    live = page.locator("#run-live")
    expect(live).to_have_attribute("data-state", "running")
    badge = page.locator(".lease .beat")
    expect(badge).to_be_visible()
    expect(badge).not_to_have_attribute("data-pulse", "expired")

    # The rescuer is the scheduler's: stopped, it cannot mark the run lost before the
    # badge has shown the lease run out (its pass comes every 5 s).
    stop_scheduler(stack)
    try:
        stack.kill_worker()  # SIGKILL to the group: Dramatiq's parent and its child
        wait_for(lambda: ended(pid), timeout=10, message=f"worker process {pid} to be gone")
        expect(badge).to_have_attribute("data-pulse", "expired", timeout=TIMEOUT_MS)
        expect(badge).to_have_class(re.compile(r"\bbeat-expired\b"))
        expect(badge).to_contain_text("will be marked lost")
        expect(page.locator(".lease .countdown")).to_have_text("at the rescuer's next pass")
    finally:
        start_scheduler(stack)
    expect(live).to_have_attribute("data-state", "lost", timeout=TIMEOUT_MS)
    expect(page.locator("#run-live h1 .state")).to_have_text("lost")
    lost = next(r for r in admin.api.runs(job["id"]) if r["id"] == run["id"])
    assert (lost["state"], lost["error"]["kind"]) == ("lost", "lost")

    page.get_by_role("link", name="Workers").click()
    silent = page.locator(f'tr[data-worker="{worker_name}"]')
    expect(silent.locator(".badge.overdue")).to_contain_text("silent")
    expect(silent.get_by_test_id("worker-running")).to_have_text("0")
    admin.api.expect("DELETE", f"/jobs/{job['id']}", 200)
    stack.start_worker()  # the next test has a worker again
    watched.assert_clean()


def test_screenshots_of_the_operator_pages(
    watched: LiveWatched, stack: Stack, admin: Admin, activity: list[dict[str, Any]]
) -> None:
    page = watched.page
    sign_in(page, stack.url, admin)
    # The live panels poll: the chart's table gets a row once a minute is rolled up.
    minutes = page.locator("#panel-throughput table.minutes tbody tr:not(:has(td[colspan]))")
    expect(minutes).not_to_have_count(0, timeout=ROLLUP_WAIT_MS)
    expect(page.locator("#panel-throughput svg.chart rect.ok")).not_to_have_count(0)
    expect(page.get_by_test_id("count-failed")).not_to_have_text("0", timeout=ROLLUP_WAIT_MS)
    expect(page.get_by_test_id("count-succeeded")).not_to_have_text("0")
    screenshot(page, "overview")

    page.get_by_role("link", name="Queues").click()
    page.get_by_role("heading", name="Queues", level=1).wait_for()
    expect(page.locator('tr[data-queue="default"] svg.spark')).to_have_count(1)
    screenshot(page, "queues")

    page.get_by_role("link", name="Workers").click()
    page.get_by_role("heading", name="Workers", level=1).wait_for()
    heard = page.locator("#panel-worker-list tbody tr[data-worker]:not(:has(.badge.overdue))")
    expect(heard).to_have_count(1)  # and the one killed before, silent
    screenshot(page, "workers")

    page.goto(f"{stack.url}/ui/lag")
    page.get_by_role("heading", name="Start lag", level=1).wait_for()
    expect(page.locator('table[data-group="queues"] tbody[data-name="default"]')).to_have_count(1)
    screenshot(page, "lag")

    page.get_by_role("link", name="Audit").click()
    page.get_by_role("heading", name="Audit log", level=1).wait_for()
    promoted = page.get_by_role("row").filter(has_text="user.update").filter(has_text="admin")
    expect(promoted).to_have_count(1)  # the module's admin, made one over HTTP
    screenshot(page, "audit")
    watched.assert_clean()
