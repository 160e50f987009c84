"""The dashboard in a real browser (Debian's Chromium), against the real stack: the API,
scheduler and worker started from the Procfile, as the README starts them. Every page
is checked for requests to other origins and for console errors (a CSP violation is
one), and controls are found by their role and name, as a screen reader finds them.

With ``CHRONOS_SCREENSHOT_DIR`` set, the flows save the screenshots the README shows
(``docs/screenshots``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import free_port
from tests.browser.watched import Watched
from tests.conftest import UNLIMITED_USERS, sibling_database
from tests.e2e.client import Client
from tests.e2e.stack import VENV_BIN, Stack, running_stack
from tests.e2e.waiting import wait_for

TIMEOUT_MS = 20_000
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def stack(
    database_url: str, queue_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHRONOS_")}
    with sibling_database(database_url, "ui") as own_database:
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "VIRTUAL_ENV": str(VENV_BIN.parent),
                "PYTHONUNBUFFERED": "1",
                "CHRONOS_DATABASE_URL": own_database,
                "CHRONOS_QUEUE_PREFIX": f"{queue_prefix}ui-",
                "CHRONOS_QUEUES": "default,other",
                "CHRONOS_API_BIND": f"127.0.0.1:{free_port()}",
                "CHRONOS_JWT_SECRET": "dashboard-secret-" + "d" * 40,
                "CHRONOS_HEARTBEAT_SECONDS": "1",
                "CHRONOS_WORKER_PROCESSES": "1",
                "CHRONOS_WORKER_THREADS": "4",
                "CHRONOS_API_WORKERS": "2",
                "CHRONOS_SIGNUPS_PER_MINUTE": "100000",
                "CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
                **UNLIMITED_USERS,
            }
        )
        logs = tmp_path_factory.mktemp("chronos-dashboard-logs")
        with running_stack(env, logs) as running:
            yield running


@pytest.fixture(scope="module")
def read_only_url(stack: Stack) -> str:
    """A second API process of the same stack, with CHRONOS_UI_READ_ONLY=true."""
    port = free_port()
    api = stack.spawn(
        "api-read-only",
        "api",
        env={"CHRONOS_API_BIND": f"127.0.0.1:{port}", "CHRONOS_UI_READ_ONLY": "true"},
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert api.alive(), "the read-only API exited"
        try:
            return Client(url, timeout=2).get("/health")[0] == 200
        except OSError:
            return False

    wait_for(up, timeout=60, interval=0.1, message="the read-only API to answer")
    return url


class Account:
    def __init__(self, stack: Stack) -> None:
        self.username = f"ui{uuid.uuid4().hex[:10]}"
        body = {"username": self.username, "password": PASSWORD}
        created = Client(stack.url).expect("POST", "/users/create", 201, body)
        self.api = Client(stack.url, created["token"])


@pytest.fixture
def account(stack: Stack) -> Account:
    return Account(stack)


@pytest.fixture
def watched(browser: Any, stack: Stack) -> Iterator[Watched]:
    page = Watched(browser, stack.url, viewport={"width": 1400, "height": 900})
    page.page.set_default_timeout(TIMEOUT_MS)
    yield page
    page.close()


def sign_in(page: Any, base: str, account: Account) -> None:
    """Signs in from the jobs page, and is brought back to it (the home page, /ui, is the
    overview: tests/browser/test_dashboard_ops.py)."""
    page.goto(f"{base}/ui/jobs")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()


def screenshot(page: Any, name: str) -> None:
    directory = os.environ.get("CHRONOS_SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def job_names(page: Any) -> list[str]:
    rows = page.get_by_role("table").first.locator("tbody tr td:nth-child(2) a")
    return sorted(rows.all_inner_texts())


def test_sign_in_lands_on_the_users_own_jobs(
    watched: Watched, stack: Stack, account: Account
) -> None:
    account.api.submit(type="noop", name="report-daily", schedule={"repeat": "daily"})
    other = Account(stack)
    other.api.submit(type="noop", name="someone-elses")
    page = watched.page
    page.goto(f"{stack.url}/ui/jobs?status=scheduled")
    assert "/ui/login" in page.url  # no session yet: sent to sign in, then back
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()
    assert page.url.endswith("/ui/jobs?status=scheduled")
    assert job_names(page) == ["report-daily"]
    screenshot(page, "jobs")
    watched.assert_clean()


def test_filter_search_and_the_back_button(
    watched: Watched, stack: Stack, account: Account
) -> None:
    account.api.submit(type="noop", name="alpha-report", queue="other")
    account.api.submit(type="sleep", name="beta-report", payload={"seconds": 0})
    account.api.submit(type="noop", name="gamma")
    page = watched.page
    sign_in(page, stack.url, account)
    page.get_by_role("searchbox", name="Search").fill("report")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"q=report"))
    assert job_names(page) == ["alpha-report", "beta-report"]
    page.get_by_label("Queue").select_option("other")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"queue=other"))
    assert job_names(page) == ["alpha-report"]
    page.go_back()
    page.wait_for_url(re.compile(r"q=report(?!.*queue=other)"))
    assert job_names(page) == ["alpha-report", "beta-report"]
    page.reload()
    assert job_names(page) == ["alpha-report", "beta-report"]
    watched.assert_clean()


def test_cancel_a_running_sleep_job_from_its_page(
    watched: Watched, stack: Stack, account: Account
) -> None:
    job = account.api.submit(type="sleep", name="long-sleep", payload={"seconds": 120})

    def running() -> bool:
        return any(run["state"] == "running" for run in account.api.runs(job["id"]))

    wait_for(running, timeout=30, interval=0.1, message="the sleep run to start")
    page = watched.page
    sign_in(page, stack.url, account)
    page.get_by_role("link", name="long-sleep").click()
    page.get_by_role("heading", name=re.compile("long-sleep")).wait_for()
    row = page.locator("#runs tbody tr").first
    assert row.get_attribute("data-state") == "running"
    screenshot(page, "job")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()
    page.get_by_role("status").filter(has_text="was cancelled").wait_for()
    # The runs table polls while a run is live: the row leaves running on its own.
    page.locator('#runs tbody tr[data-state="cancelled"]').wait_for()
    assert account.api.job(job["id"])["status"] == "cancelled"
    watched.assert_clean()


def test_bulk_pause_three_jobs(watched: Watched, stack: Stack, account: Account) -> None:
    tag = uuid.uuid4().hex[:6]
    jobs = [
        account.api.submit(type="noop", name=f"bulk-{tag}-{i}", schedule={"repeat": "hourly"})
        for i in range(4)
    ]
    page = watched.page
    sign_in(page, stack.url, account)
    page.goto(f"{stack.url}/ui/jobs?name=&q=bulk-{tag}")
    for job in jobs[:3]:
        page.get_by_role("checkbox", name=f"Select {job['name']}").check()
    page.get_by_role("button", name="Pause selected").click()
    page.get_by_role("heading", name="Pause 3 jobs?").wait_for()
    page.get_by_role("button", name="Pause 3 jobs").click()
    page.get_by_role("heading", name="Pause: 3 jobs done").wait_for()
    statuses = [account.api.job(job["id"])["status"] for job in jobs]
    assert statuses == ["paused", "paused", "paused", "scheduled"]
    watched.assert_clean()


def test_reschedule_from_the_form(watched: Watched, stack: Stack, account: Account) -> None:
    job = account.api.submit(type="noop", name="to-move", schedule={"repeat": "daily"})
    page = watched.page
    sign_in(page, stack.url, account)
    page.goto(f"{stack.url}/ui/jobs/{job['id']}")
    page.get_by_role("radio", name="Cron").check()
    page.get_by_label("Cron (5 fields)").fill("0 9 * * 1-5")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Reschedule").click()
    page.get_by_role("status").filter(has_text="rescheduled").wait_for()
    assert page.get_by_text("weekdays at 09:00, Europe/Berlin").count() == 1
    schedule = account.api.job(job["id"])["schedule"]
    assert schedule["cron"] == "0 9 * * 1-5"
    assert schedule["timezone"] == "Europe/Berlin"
    watched.assert_clean()


def test_read_only_mode_shows_no_controls(
    browser: Any, stack: Stack, read_only_url: str, account: Account
) -> None:
    job = account.api.submit(type="noop", name="look-only", schedule={"repeat": "hourly"})
    watched = Watched(browser, read_only_url)
    try:
        page = watched.page
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, read_only_url, account)
        page.get_by_role("status").filter(has_text="Read-only").wait_for()
        assert page.get_by_role("checkbox").count() == 0
        page.goto(f"{read_only_url}/ui/jobs/{job['id']}")
        names = sorted(page.get_by_role("button").all_inner_texts())
        assert names == ["Dark mode", "Sign out"]
        watched.assert_clean()
    finally:
        watched.close()


def test_a_finished_runs_timeline(watched: Watched, stack: Stack, account: Account) -> None:
    job = account.api.submit(type="noop", name="quick")
    wait_for(
        lambda: account.api.job(job["id"])["status"] == "succeeded",
        timeout=30,
        interval=0.1,
        message="the noop to succeed",
    )
    page = watched.page
    sign_in(page, stack.url, account)
    page.goto(f"{stack.url}/ui/jobs/{job['id']}")
    page.locator("#runs tbody tr a").first.click()
    page.get_by_role("heading", name="Timeline").wait_for()
    for step in ("Queued", "Published", "Started", "Finished"):
        cell = page.get_by_role("row", name=re.compile(f"^{step}")).get_by_role("cell").first
        assert "UTC" in cell.inner_text(), step
    screenshot(page, "run")
    watched.assert_clean()


def test_failures_group_and_retry(watched: Watched, stack: Stack, account: Account) -> None:
    job = account.api.submit(
        type="fail", name="always-fails", payload={"message": "disk 93% full"}, max_attempts=2
    )
    wait_for(
        lambda: account.api.job(job["id"])["status"] == "failed",
        timeout=60,
        interval=0.2,
        message="both attempts to fail",
    )
    page = watched.page
    sign_in(page, stack.url, account)
    page.get_by_role("link", name="Failures").click()
    row = page.get_by_role("row").filter(has_text="always-fails")
    assert "disk <n>% full" in row.inner_text()
    assert row.locator("td.count").inner_text() in {"1", "2"}
    screenshot(page, "failures")
    row.get_by_role("button", name="Retry").click()
    page.get_by_role("status").filter(has_text="A run was queued now").wait_for()
    watched.assert_clean()


def test_schedules_pause_and_resume(watched: Watched, stack: Stack, account: Account) -> None:
    job = account.api.submit(type="noop", name="every-minute", schedule={"cron": "* * * * *"})
    page = watched.page
    sign_in(page, stack.url, account)
    page.get_by_role("link", name="Schedules").click()
    row = page.get_by_role("row").filter(has_text="every-minute")
    assert "every minute, UTC" in row.inner_text()
    screenshot(page, "schedules")
    row.get_by_role("button", name="Pause").click()
    page.get_by_role("status").filter(has_text="paused").wait_for()
    assert account.api.job(job["id"])["status"] == "paused"
    page.get_by_role("link", name="Schedules").click()
    page.get_by_role("row").filter(has_text="every-minute").get_by_role(
        "button", name="Resume"
    ).click()
    page.get_by_role("status").filter(has_text="resumed").wait_for()
    watched.assert_clean()


def test_dark_mode_follows_the_os_and_the_toggle(
    browser: Any, stack: Stack, account: Account
) -> None:
    watched = Watched(browser, stack.url, color_scheme="dark")
    try:
        page = watched.page
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, stack.url, account)

        def background() -> str:
            return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))

        assert background() == "rgb(13, 17, 23)"  # the OS asks for dark
        toggle = page.get_by_role("button", name="Light mode")
        assert toggle.get_attribute("aria-pressed") == "true"
        toggle.click()
        assert background() == "rgb(255, 255, 255)"
        page.reload()
        assert background() == "rgb(255, 255, 255)"  # the choice is remembered
        assert page.get_by_role("button", name="Dark mode").count() == 1
        watched.assert_clean()
    finally:
        watched.close()


def test_keyboard_shortcuts_and_their_help(
    watched: Watched, stack: Stack, account: Account
) -> None:
    account.api.submit(type="noop", name="kbd-job")
    page = watched.page
    sign_in(page, stack.url, account)
    page.wait_for_load_state("domcontentloaded")
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    help_dialog.wait_for()
    help_dialog.get_by_role("button", name="Close").click()
    help_dialog.wait_for(state="hidden")
    # Each page's script runs once the page is parsed (defer): a key pressed before that
    # is the browser's alone, so wait for it.
    for key, heading in (("s", "Schedules"), ("f", "Failures"), ("j", "Jobs")):
        page.wait_for_load_state("domcontentloaded")
        page.keyboard.press(key)
        page.get_by_role("heading", name=heading).wait_for()
    page.wait_for_load_state("domcontentloaded")
    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search")
    assert search.evaluate("element => element === document.activeElement")
    page.keyboard.type("jxs")  # typed into the field, not taken as shortcuts
    assert search.input_value() == "jxs"
    assert page.url.endswith("/ui/jobs")
    search.blur()
    before = page.evaluate("document.documentElement.getAttribute('data-theme')")
    page.keyboard.press("t")
    after = page.evaluate("document.documentElement.getAttribute('data-theme')")
    assert after in ("dark", "light")
    assert after != before
    watched.assert_clean()
