"""The dashboard at /ui, through Falcon's test client against the real database: sign-in,
the session cookie, CSRF, read-only mode, owner scoping, and every page and action."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from falcon import testing
from sqlalchemy import Engine, text

from api.app import create_app
from api.dashboard import session
from api.dashboard.render import CONTENT_SECURITY_POLICY
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.helpers import create_job

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Fields(HTMLParser):
    """The page's hidden and named form fields, links and every element's id."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.links: list[str] = []
        self.buttons: list[str] = []
        self.forms: list[str] = []
        self._in_button = False
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.inputs.setdefault(str(found["name"]), found.get("value") or "")
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "form" and found.get("action"):
            self.forms.append(str(found["action"]))
        if tag == "button":
            self._in_button = True
            self.buttons.append("")
        for name in ("src", "href", "action", "hx-get"):
            if found.get(name):
                self.sources.append(str(found[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self.buttons[-1] += data.strip()


def parsed(html: str) -> Fields:
    fields = Fields()
    fields.feed(html)
    return fields


class Browser:
    """A cookie jar over the test client, as a browser keeps one."""

    def __init__(self, client: testing.TestClient) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def _keep(self, result: Any) -> Any:
        for name, cookie in result.cookies.items():
            if cookie.value:
                self.cookies[name] = cookie.value
            else:
                self.cookies.pop(name, None)
        return result

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._keep(self.client.simulate_get(path, cookies=self.cookies, **kwargs))

    def post(self, path: str, form: dict[str, str], **headers: str) -> Any:
        return self._keep(
            self.client.simulate_post(
                path, body=urlencode(form), headers={**FORM, **headers}, cookies=self.cookies
            )
        )

    def csrf(self, path: str = "/ui/login") -> str:
        page = self.get(path)
        return parsed(page.text).inputs["csrf_token"]

    def sign_in(self, account: Account) -> Any:
        token = self.csrf()
        return self.post(
            "/ui/login",
            {"csrf_token": token, "username": account.username, "password": account.password},
        )

    def act(self, job_id: str, action: str, **extra: str) -> Any:
        token = self.csrf(f"/ui/jobs/{job_id}")
        return self.post(f"/ui/jobs/{job_id}/{action}", {"csrf_token": token, **extra})


@pytest.fixture
def browser(client: testing.TestClient) -> Browser:
    return Browser(client)


@pytest.fixture
def signed_in(browser: Browser, user: Account) -> Browser:
    result = browser.sign_in(user)
    assert result.status_code == 303, result.text
    return browser


def job_status(engine: Engine, job_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}))


def audit_actions(engine: Engine, job_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action FROM audit_events WHERE object_id = :id ORDER BY at"),
            {"id": job_id},
        )
        return [row.action for row in rows]


# --- the shell: sign-in, session, CSRF, headers ---------------------------------------


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(browser: Browser) -> None:
    result = browser.get("/ui/jobs", query_string="status=paused")
    assert result.status_code == 303
    assert result.headers["Location"] == "/ui/login?next=%2Fui%2Fjobs%3Fstatus%3Dpaused"


def test_signing_in_sets_a_strict_http_only_session_and_goes_back(
    browser: Browser, user: Account
) -> None:
    token = browser.csrf("/ui/login?next=/ui/jobs?status=paused")
    result = browser.post(
        "/ui/login",
        {
            "csrf_token": token,
            "username": user.username,
            "password": user.password,
            "next": "/ui/jobs?status=paused",
        },
    )
    assert result.status_code == 303, result.text
    assert result.headers["Location"] == "/ui/jobs?status=paused"
    cookie = result.cookies[session.SESSION_COOKIE]
    assert cookie.http_only
    assert cookie.same_site == "Strict"
    assert cookie.path == "/ui"
    assert not cookie.secure  # development: served over plain HTTP on localhost
    page = browser.get("/ui/jobs")
    assert page.status_code == 200
    assert user.username in page.text


def test_the_session_cookie_is_secure_in_production(settings: Settings, engine: Engine) -> None:
    production = Settings(**{**settings.__dict__, "env": "production"})
    client = testing.TestClient(create_app(production, engine=engine))
    browser = Browser(client)
    token = browser.csrf()
    result = browser.post("/ui/login", {"csrf_token": token, "username": "x", "password": "y"})
    assert result.status_code == 401
    assert browser.client.simulate_get("/ui/login").cookies[session.CSRF_COOKIE].secure


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/uix", "/ui\\x"])
def test_sign_in_never_sends_the_browser_to_another_site(
    browser: Browser, user: Account, target: str
) -> None:
    token = browser.csrf()
    result = browser.post(
        "/ui/login",
        {"csrf_token": token, "username": user.username, "password": user.password, "next": target},
    )
    assert result.headers["Location"] == "/ui/"


def test_a_wrong_password_shows_the_form_again_with_401(browser: Browser, user: Account) -> None:
    token = browser.csrf()
    result = browser.post(
        "/ui/login", {"csrf_token": token, "username": user.username, "password": "wrong"}
    )
    assert result.status_code == 401
    assert "wrong credentials" in result.text
    assert session.SESSION_COOKIE not in browser.cookies


def test_a_post_without_the_csrf_token_is_refused(signed_in: Browser, user: Account) -> None:
    job = create_job(signed_in.client, user, name="kept")
    result = signed_in.post(f"/ui/jobs/{job['id']}/pause", {})
    assert result.status_code == 403
    assert "csrf_token" in result.text
    wrong = signed_in.post(f"/ui/jobs/{job['id']}/pause", {"csrf_token": "x" * 43})
    assert wrong.status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_the_token(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, user)
    token = signed_in.csrf(f"/ui/jobs/{job['id']}")
    result = signed_in.post(
        f"/ui/jobs/{job['id']}/pause", {"csrf_token": token}, Origin="https://evil.example"
    )
    assert result.status_code == 403
    assert job_status(engine, job["id"]) != "paused"


def test_signing_in_needs_the_csrf_token_too(browser: Browser, user: Account) -> None:
    result = browser.post("/ui/login", {"username": user.username, "password": user.password})
    assert result.status_code == 403
    assert session.SESSION_COOKIE not in browser.cookies


def test_signing_out_ends_the_session(signed_in: Browser) -> None:
    token = signed_in.csrf("/ui/jobs")
    result = signed_in.post("/ui/logout", {"csrf_token": token})
    assert result.status_code == 303
    assert signed_in.get("/ui/jobs").status_code == 303


def test_a_password_change_ends_the_session(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET token_version = token_version + 1 WHERE id = :id"),
            {"id": user.id},
        )
    assert signed_in.get("/ui/jobs").status_code == 303


def test_every_page_has_a_strict_csp_and_loads_nothing_from_elsewhere(
    signed_in: Browser, user: Account
) -> None:
    job = create_job(signed_in.client, user)
    for path in ("/ui/login", "/ui/jobs", f"/ui/jobs/{job['id']}"):
        page = signed_in.get(path)
        assert page.status_code == 200, path
        assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert page.headers["Cache-Control"] == "no-store"
        assert "<script>" not in page.text, path
        assert " style=" not in page.text, path
        for source in parsed(page.text).sources:
            assert source.startswith(("/", "?", "#")), (path, source)


def test_the_static_assets_are_served_with_their_fingerprints(signed_in: Browser) -> None:
    page = signed_in.get("/ui/jobs")
    scripts = re.findall(r'src="(/ui/static/[0-9a-f]{16}/[\w.]+)"', page.text)
    styles = re.findall(r'href="(/ui/static/[0-9a-f]{16}/[\w.]+)"', page.text)
    assert {path.rsplit("/", 1)[1] for path in scripts} == {"htmx.min.js", "app.js"}
    assert [path.rsplit("/", 1)[1] for path in styles] == ["app.css"]
    for path in [*scripts, *styles]:
        asset = signed_in.client.simulate_get(path)
        assert asset.status_code == 200, path
        assert "immutable" in asset.headers["Cache-Control"]
    assert signed_in.client.simulate_get("/ui/static/0000000000000000/app.js").status_code == 404


def test_the_dashboard_can_be_turned_off(settings: Settings, engine: Engine) -> None:
    off = Settings(**{**settings.__dict__, "ui_enabled": False})
    client = testing.TestClient(create_app(off, engine=engine))
    assert client.simulate_get("/ui/login").status_code == 404


# --- read-only mode -------------------------------------------------------------------


@pytest.fixture
def read_only(settings: Settings, engine: Engine, user: Account) -> Browser:
    settings = Settings(**{**settings.__dict__, "ui_read_only": True})
    browser = Browser(testing.TestClient(create_app(settings, engine=engine)))
    assert browser.sign_in(user).status_code == 303
    return browser


def test_read_only_mode_shows_no_controls_and_refuses_every_post(
    read_only: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(read_only.client, user)
    page = read_only.get(f"/ui/jobs/{job['id']}")
    assert page.status_code == 200
    fields = parsed(page.text)
    assert not [action for action in fields.forms if action.startswith("/ui/jobs/")]
    assert set(fields.buttons) <= {"Dark mode", "Sign out", "Close"}  # Close: the help dialog
    assert "Read-only" in page.text
    for action in ("pause", "resume", "trigger", "cancel", "reschedule"):
        result = read_only.act(job["id"], action)
        assert result.status_code == 403, action
    assert job_status(engine, job["id"]) == "scheduled" or job_status(engine, job["id"]) == "queued"
    assert audit_actions(engine, job["id"]) == ["job.create"]


# --- owner scoping --------------------------------------------------------------------


def test_another_users_job_and_run_are_404(
    signed_in: Browser, other_user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, other_user, name="theirs")
    assert signed_in.get(f"/ui/jobs/{job['id']}").status_code == 404
    assert signed_in.get(f"/ui/jobs/{job['id']}/runs").status_code == 404
    token = signed_in.csrf("/ui/jobs")
    result = signed_in.post(f"/ui/jobs/{job['id']}/cancel", {"csrf_token": token})
    assert result.status_code == 404
    assert job_status(engine, job["id"]) != "cancelled"
    with engine.connect() as conn:
        run_id = conn.scalar(text("SELECT id FROM runs WHERE job_id = :id"), {"id": job["id"]})
    assert signed_in.get(f"/ui/runs/{run_id}").status_code == 404
    listing = signed_in.get("/ui/jobs")
    assert "theirs" not in listing.text


def test_an_admin_sees_everyones_jobs_and_filters_by_owner(
    browser: Browser, admin: Account, user: Account, other_user: Account
) -> None:
    create_job(browser.client, user, name="mine-a")
    create_job(browser.client, other_user, name="theirs-b")
    assert browser.sign_in(admin).status_code == 303
    everything = browser.get("/ui/jobs")
    assert "mine-a" in everything.text
    assert "theirs-b" in everything.text
    only = browser.get("/ui/jobs", query_string=urlencode({"owner": other_user.username}))
    assert "theirs-b" in only.text
    assert "mine-a" not in only.text


def test_an_unknown_page_or_malformed_id_is_an_html_404(signed_in: Browser) -> None:
    for path in (f"/ui/jobs/{uuid.uuid4()}", "/ui/jobs/not-a-uuid", "/ui/nothing"):
        result = signed_in.get(path)
        assert result.status_code == 404, path
        assert result.headers["Content-Type"].startswith("text/html"), path


# --- the jobs page --------------------------------------------------------------------


def names_listed(page: Any) -> list[str]:
    return re.findall(r'<td><a href="/ui/jobs/[0-9a-f-]{36}">([^<]+)</a></td>', page.text)


def test_filters_and_search_qualifiers_narrow_the_list(signed_in: Browser, user: Account) -> None:
    create_job(signed_in.client, user, name="report-daily", queue="other")
    create_job(
        signed_in.client,
        user,
        name="ping",
        type="http",
        payload={"url": "https://example.com/x", "method": "GET"},
    )
    create_job(
        signed_in.client,
        user,
        name="hourly-report",
        schedule={"repeat": "hourly"},
    )

    def listed(**params: str) -> list[str]:
        page = signed_in.get("/ui/jobs", query_string=urlencode(params))
        assert page.status_code == 200, page.text
        return sorted(names_listed(page))

    assert listed() == ["hourly-report", "ping", "report-daily"]
    assert listed(queue="other") == ["report-daily"]
    assert listed(type="http") == ["ping"]
    assert listed(recurring="yes") == ["hourly-report"]
    assert listed(recurring="no") == ["ping", "report-daily"]
    assert listed(q="report") == ["hourly-report", "report-daily"]
    assert listed(q="type:http") == ["ping"]
    assert listed(q='payload.url:"https://example.com/x"') == ["ping"]
    assert listed(q='payload.url:"https://example.com/y"') == []
    assert listed(q="queue:other REPORT") == ["report-daily"]
    assert listed(q="recurring:yes name:hourly-report") == ["hourly-report"]
    assert listed(q="payload.n:1e999") == []  # not a number JSON has: searched as text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"q": "colour:blue"}, "colour"),
        ({"q": "status:sleeping"}, "status"),
        ({"q": 'name:"unclosed'}, "q"),
        ({"q": "owner:someone"}, "owner"),
        ({"status": "nope"}, "status"),
        ({"recurring": "maybe"}, "recurring"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"q": "x" * 501}, "q"),
        ({"q": "payload.a..b:1"}, "payload"),
        ({"q": "nul\x00"}, "q"),
        ({"q": "owner:\x00"}, "owner"),
    ],
)
def test_a_bad_filter_is_a_400_page_naming_it(
    signed_in: Browser, params: dict[str, str], named: str
) -> None:
    result = signed_in.get("/ui/jobs", query_string=urlencode(params))
    assert result.status_code == 400, result.text
    assert named in result.text
    assert result.headers["Content-Type"].startswith("text/html")


def test_keyset_paging_walks_every_job_once(signed_in: Browser, user: Account) -> None:
    for index in range(5):
        create_job(signed_in.client, user, name=f"job-{index}")
    seen: list[str] = []
    query: str | None = "limit=2"
    pages = 0
    while query is not None:
        page = signed_in.get("/ui/jobs", query_string=query)
        assert page.status_code == 200
        seen += names_listed(page)
        pages += 1
        following = re.search(r'href="\?([^"]+)" rel="next"', page.text)
        query = following.group(1).replace("&amp;", "&") if following else None
        assert pages <= 3, "more pages than 5 jobs in pages of 2 need"
    assert sorted(seen) == [f"job-{index}" for index in range(5)]
    assert pages == 3


# --- the job page and its actions -----------------------------------------------------


def test_the_job_page_shows_the_schedule_in_words_and_masks_header_values(
    signed_in: Browser, user: Account
) -> None:
    job = create_job(
        signed_in.client,
        user,
        name="standup",
        type="http",
        payload={
            "url": "https://example.com/hook",
            "method": "POST",
            "headers": {"Authorization": "Bearer very-secret-value", "X-Team": "core"},
        },
        schedule={
            "cron": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "run_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    )
    page = signed_in.get(f"/ui/jobs/{job['id']}")
    assert page.status_code == 200
    assert "weekdays at 09:00, Europe/Berlin" in page.text
    assert "very-secret-value" not in page.text
    assert "core" not in page.text
    assert "Authorization" in page.text
    assert page.text.count("<li><time") == 10  # the next ten occurrences
    buttons = set(parsed(page.text).buttons)
    assert {"Pause", "Trigger now", "Cancel job", "Reschedule"} <= buttons
    assert "Resume" not in buttons  # only a paused job offers it


def test_each_action_is_the_json_apis_with_its_audit_row(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, user, schedule={"repeat": "hourly"})
    for action, status in (("pause", "paused"), ("resume", "scheduled")):
        result = signed_in.act(job["id"], action)
        assert result.status_code == 303, result.text
        assert result.headers["Location"] == f"/ui/jobs/{job['id']}?done={action}"
        assert job_status(engine, job["id"]) == status
    assert signed_in.act(job["id"], "trigger").status_code == 303
    assert signed_in.act(job["id"], "cancel").status_code == 303
    assert job_status(engine, job["id"]) == "cancelled"
    assert audit_actions(engine, job["id"]) == [
        "job.create",
        "job.pause",
        "job.resume",
        "job.trigger",
        "job.cancel",
    ]
    done = signed_in.get(f"/ui/jobs/{job['id']}", query_string="done=cancel")
    assert "was cancelled" in done.text


def test_a_refused_action_shows_the_rule_that_refused_it(signed_in: Browser, user: Account) -> None:
    job = create_job(signed_in.client, user)
    assert signed_in.act(job["id"], "cancel").status_code == 303
    again = signed_in.act(job["id"], "trigger")
    assert again.status_code == 409
    assert "cancelled" in again.text
    assert signed_in.act(job["id"], "explode").status_code == 404


def test_rescheduling_from_the_form(signed_in: Browser, user: Account, engine: Engine) -> None:
    job = create_job(signed_in.client, user, schedule={"repeat": "daily"})
    run_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    result = signed_in.act(
        job["id"],
        "reschedule",
        kind="cron",
        run_at=run_at.isoformat(),
        cron="30 6 * * *",
        timezone="America/New_York",
    )
    assert result.status_code == 303, result.text
    page = signed_in.get(f"/ui/jobs/{job['id']}")
    assert "daily at 06:30, America/New_York" in page.text
    assert audit_actions(engine, job["id"])[-1] == "job.reschedule"
    bad = signed_in.act(job["id"], "reschedule", kind="cron", cron="61 * * * *", timezone="UTC")
    assert bad.status_code == 400
    assert "cron" in bad.text
    assert 'value="61 * * * *"' in bad.text  # the form keeps what was typed


def test_the_runs_fragment_polls_only_while_a_run_is_live(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, user)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE runs SET state = 'running', queued_at = now(), started_at = now(), "
                "heartbeat_at = now(), worker = 'host:1' WHERE job_id = :id"
            ),
            {"id": job["id"]},
        )
    live = signed_in.get(f"/ui/jobs/{job['id']}/runs")
    assert 'hx-trigger="chronos:follow" data-follow' in live.text
    assert 'data-state="running"' in live.text
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE runs SET state = 'succeeded', finished_at = now() WHERE job_id = :id"),
            {"id": job["id"]},
        )
    done = signed_in.get(f"/ui/jobs/{job['id']}/runs")
    assert "hx-trigger" not in done.text
    assert 'data-state="succeeded"' in done.text


# --- the run page ---------------------------------------------------------------------


def run_beside(conn: Any, run_id: Any, result_value: str | None = None, **columns: str) -> Any:
    """A new run of the same job as ``run_id``, its other columns SQL expressions over
    that run's row (``result`` may be ``:result``, bound to ``result_value``)."""
    values = {"attempt": "1", "origin": "'schedule'", "scheduled_for": "scheduled_for",
              "state": "'pending'", **columns}  # fmt: skip
    new = uuid.uuid4()
    conn.execute(
        text(
            f"INSERT INTO runs (id, job_id, owner_id, queue, priority, created_at, "  # noqa: S608 (the test's own SQL)
            f"{', '.join(values)}) SELECT :new, job_id, owner_id, queue, priority, now(), "
            f"{', '.join(values.values())} FROM runs WHERE id = :old"
        ),
        {"new": new, "old": run_id, "result": result_value},
    )
    return new


def test_the_run_page_shows_the_timeline_attempts_and_error(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, user, max_attempts=3)
    with engine.begin() as conn:
        first = conn.execute(
            text(
                "UPDATE runs SET state = 'failed', queued_at = now(), started_at = now(), "
                "finished_at = now(), worker = 'host:1', "
                'error = \'{"kind": "exception", "message": "boom"}\' '
                "WHERE job_id = :id RETURNING id, scheduled_for"
            ),
            {"id": job["id"]},
        ).one()
        second = run_beside(conn, first.id, attempt="2", origin="'retry'", due_at="now()")
    page = signed_in.get(f"/ui/runs/{first.id}")
    assert page.status_code == 200, page.text
    for step in ("Scheduled for", "Due", "Queued", "Published", "Started", "Finished"):
        assert f'<th scope="row">{step}</th>' in page.text
    assert "boom" in page.text
    assert "host:1" in page.text
    assert f'href="/ui/runs/{second}"' in page.text  # the retry, an attempt of the same slot


def test_a_skipped_run_says_why_and_links_the_run_that_blocked_it(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, user, schedule={"repeat": "hourly"})
    with engine.begin() as conn:
        blocker = conn.execute(
            text(
                # Queued before the skip, started after it (claimed in the same batch).
                "UPDATE runs SET state = 'running', queued_at = now() - interval '2 min', "
                "started_at = now() - interval '10 s', heartbeat_at = now(), "
                "created_at = now() - interval '1 hour', "
                "worker = 'host:1' WHERE job_id = :id RETURNING id"
            ),
            {"id": job["id"]},
        ).scalar_one()
        skipped = run_beside(
            conn,
            blocker,
            scheduled_for="scheduled_for + interval '1 hour'",
            state="'skipped'",
            finished_at="now() - interval '1 min'",
            result=":result",
            result_value='{"skipped": "an earlier run was still queued or running '
            '(overlap_policy forbid)"}',
        )
    page = signed_in.get(f"/ui/runs/{skipped}")
    assert page.status_code == 200, page.text
    assert "overlap_policy forbid" in page.text
    assert f'href="/ui/runs/{blocker}"' in page.text


# --- bulk actions ---------------------------------------------------------------------


def confirm(browser: Browser, **params: Any) -> tuple[Any, dict[str, Any]]:
    """The confirmation page, and the form it would post (its hidden fields)."""
    page = browser.get("/ui/jobs/bulk", query_string=urlencode(params, doseq=True))
    fields: dict[str, Any] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text):
        fields.setdefault(name, []).append(value)
    return page, fields


def post_confirmed(browser: Browser, fields: dict[str, Any], *, follow: bool = True) -> Any:
    """Post the confirmation; a success answers 303 to its result page, which is
    fetched (as a browser would) unless ``follow`` is false."""
    body = urlencode(fields, doseq=True)
    posted = browser._keep(
        browser.client.simulate_post(
            "/ui/jobs/bulk", body=body, headers=FORM, cookies=browser.cookies
        )
    )
    if not follow or posted.status_code != 303:
        return posted
    path, _, query = posted.headers["Location"].partition("?")
    assert path == "/ui/jobs/bulk/done"
    return browser.get(path, query_string=query)


def test_bulk_pause_of_the_ticked_jobs_confirms_the_count_first(
    signed_in: Browser, user: Account, other_user: Account, engine: Engine
) -> None:
    mine = [create_job(signed_in.client, user, name=f"b{i}")["id"] for i in range(3)]
    untouched = create_job(signed_in.client, user, name="left")["id"]
    theirs = create_job(signed_in.client, other_user, name="theirs")["id"]
    page, fields = confirm(signed_in, do="pause:selected", ids=[*mine, theirs])
    assert page.status_code == 200, page.text
    assert "Pause 3 jobs?" in page.text  # another user's id is not counted
    assert all(job_status(engine, job_id) != "paused" for job_id in mine)  # nothing yet
    done = post_confirmed(signed_in, fields)
    assert done.status_code == 200, done.text
    assert "3 jobs done" in done.text
    assert [job_status(engine, job_id) for job_id in mine] == ["paused"] * 3
    assert job_status(engine, untouched) != "paused"
    assert job_status(engine, theirs) != "paused"
    assert audit_actions(engine, mine[0]) == ["job.create", "job.pause"]


def test_bulk_on_all_matching_refuses_a_set_that_changed_since_it_was_confirmed(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    for index in range(2):
        create_job(signed_in.client, user, name=f"nightly-{index}", queue="other")
    create_job(signed_in.client, user, name="elsewhere")
    page, fields = confirm(signed_in, do="cancel:all", queue="other")
    assert "Cancel 2 jobs?" in page.text
    late = create_job(signed_in.client, user, name="nightly-late", queue="other")
    changed = post_confirmed(signed_in, fields)
    assert changed.status_code == 409
    assert "3 jobs match now, and not the 2 you confirmed" in changed.text
    assert job_status(engine, late["id"]) != "cancelled"  # nothing was changed
    page, fields = confirm(signed_in, do="cancel:all", queue="other")
    done = post_confirmed(signed_in, fields)
    assert "3 jobs done" in done.text
    listing = signed_in.get("/ui/jobs", query_string="status=cancelled")
    assert sorted(names_listed(listing)) == ["nightly-0", "nightly-1", "nightly-late"]


def test_bulk_lists_the_jobs_an_action_did_not_apply_to(signed_in: Browser, user: Account) -> None:
    live = create_job(signed_in.client, user, name="live")["id"]
    gone = create_job(signed_in.client, user, name="gone")["id"]
    assert signed_in.act(gone, "cancel").status_code == 303
    _, fields = confirm(signed_in, do="trigger:selected", ids=[live, gone])
    done = post_confirmed(signed_in, fields)
    assert "1 job done" in done.text
    assert "the job is cancelled" in done.text


@pytest.mark.parametrize(
    "params",
    [{"do": "explode:all"}, {"do": "pause:some"}, {"do": "pause:selected"},
     {"do": "pause:selected", "ids": "not-an-id"}],
)  # fmt: skip
def test_a_bad_bulk_request_is_a_400(signed_in: Browser, params: dict[str, str]) -> None:
    page, _ = confirm(signed_in, **params)
    assert page.status_code == 400, page.text


def test_a_bulk_post_needs_its_csrf_token_and_a_count(signed_in: Browser, user: Account) -> None:
    job = create_job(signed_in.client, user)["id"]
    _, fields = confirm(signed_in, do="pause:selected", ids=[job])
    assert post_confirmed(signed_in, {**fields, "csrf_token": ["wrong"]}).status_code == 403
    assert post_confirmed(signed_in, {**fields, "count": ["many"]}).status_code == 400
    assert post_confirmed(signed_in, {**fields, "count": ["²"]}).status_code == 400


# --- failures and schedules -----------------------------------------------------------


def fail_runs(engine: Engine, job_id: str, messages: list[str], kind: str = "http_status") -> None:
    """The job's pending run fails once per message (a retry run each after the first)."""
    with engine.begin() as conn:
        first = conn.execute(
            text(
                "UPDATE runs SET state = 'failed', queued_at = now(), started_at = now(), "
                "finished_at = now(), worker = 'h:1', error = jsonb_build_object('kind', "
                "CAST(:kind AS text), 'message', CAST(:message AS text)) "
                "WHERE job_id = :id RETURNING id"
            ),
            {"id": job_id, "kind": kind, "message": messages[0]},
        ).scalar_one()
        for attempt, message in enumerate(messages[1:], start=2):
            run_beside(
                conn,
                first,
                attempt=str(attempt),
                origin="'retry'",
                state="'failed'",
                queued_at="now()",
                started_at="now()",
                finished_at="now()",
                worker="'h:1'",
                error=":result",
                result_value=f'{{"kind": "{kind}", "message": "{message}"}}',
            )


def test_failures_group_by_job_kind_and_normalised_message(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    flaky = create_job(signed_in.client, user, name="flaky", max_attempts=10)
    fail_runs(
        engine,
        flaky["id"],
        [f"the target answered 50{i} after {100 + i} ms" for i in range(5)],
    )
    other = create_job(signed_in.client, user, name="other")
    fail_runs(engine, other["id"], ["connection refused"], kind="exception")
    page = signed_in.get("/ui/failures")
    assert page.status_code == 200, page.text
    rows = re.findall(r'<td class="count">(\d+)</td>', page.text)
    assert sorted(rows) == ["1", "5"]
    assert "the target answered &lt;n&gt; after &lt;n&gt; ms" in page.text
    assert "Retry" in parsed(page.text).buttons
    assert signed_in.get("/ui/failures", query_string="since=1h").status_code == 200
    assert signed_in.get("/ui/failures", query_string="since=forever").status_code == 400


def test_failures_of_other_users_are_not_shown(
    signed_in: Browser, other_user: Account, engine: Engine
) -> None:
    theirs = create_job(signed_in.client, other_user, name="theirs")
    fail_runs(engine, theirs["id"], ["boom"])
    assert "theirs" not in signed_in.get("/ui/failures").text


def test_schedules_show_recurring_jobs_with_their_last_occurrences(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    hourly = create_job(signed_in.client, user, name="hourly", schedule={"repeat": "hourly"})
    create_job(signed_in.client, user, name="one-off")
    fail_runs(engine, hourly["id"], ["boom"])
    page = signed_in.get("/ui/schedules")
    assert page.status_code == 200, page.text
    assert "hourly" in page.text
    assert "one-off" not in page.text
    assert page.text.count('class="cell state-failed"') == 1
    assert "Pause" in parsed(page.text).buttons


def test_each_page_runs_a_handful_of_queries(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    """Counted with a SQLAlchemy listener: the session's user, the owner check, then the
    page's reads (jobs 4, a job 6, a run 4, failures 2, schedules 6 with its overdue count)."""
    from sqlalchemy import event

    jobs = [create_job(signed_in.client, user, name=f"q{i}", schedule={"repeat": "hourly"})
            for i in range(12)]  # fmt: skip
    fail_runs(engine, jobs[0]["id"], ["boom", "boom"])
    with engine.connect() as conn:
        run_id = conn.scalar(text("SELECT id FROM runs WHERE job_id = :id"), {"id": jobs[0]["id"]})
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        for path in ("/ui/jobs", f"/ui/jobs/{jobs[0]['id']}", f"/ui/runs/{run_id}",
                     "/ui/failures", "/ui/schedules"):  # fmt: skip
            statements.clear()
            assert signed_in.get(path).status_code == 200, path
            assert len(statements) <= 6, (path, statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_an_unexpected_error_on_a_page_is_an_html_500(
    signed_in: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.repository import dashboard as dashboard_repo

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(dashboard_repo, "failure_groups", broken)
    result = signed_in.get("/ui/failures")
    assert result.status_code == 500
    assert result.headers["Content-Type"].startswith("text/html")
    assert "a bug" not in result.text  # logged, never shown


def test_failures_read_at_most_the_newest_scan_and_say_so(
    signed_in: Browser, user: Account, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.dashboard import reports

    monkeypatch.setattr(reports, "SCAN", 3)
    job = create_job(signed_in.client, user, name="noisy", max_attempts=10)
    fail_runs(engine, job["id"], ["boom"] * 5)
    page = signed_in.get("/ui/failures")
    assert re.findall(r'<td class="count">(\d+)</td>', page.text) == ["3"]
    assert "counted from the newest 3 failures" in page.text


def test_bulk_refuses_another_set_of_the_same_size(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    first = create_job(signed_in.client, user, name="swap-a", schedule={"repeat": "hourly"})
    create_job(signed_in.client, user, name="swap-b", schedule={"repeat": "hourly"})
    _, fields = confirm(signed_in, do="pause:all", q="swap-", recurring="yes")
    assert fields["count"] == ["2"]
    assert signed_in.act(first["id"], "cancel").status_code == 303  # leaves the set
    newcomer = create_job(signed_in.client, user, name="swap-c", schedule={"repeat": "hourly"})
    _, still = confirm(signed_in, do="pause:all", q="swap-", recurring="yes", status="scheduled")
    assert still["count"] == ["2"]  # the same size, not the same jobs
    changed = post_confirmed(signed_in, {**fields, "status": ["scheduled"]})
    assert changed.status_code == 409, changed.text
    assert job_status(engine, newcomer["id"]) != "paused"


def test_a_bulk_post_redirects_to_a_signed_result_so_a_reload_does_not_act_again(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    job = create_job(signed_in.client, user, name="once")["id"]
    _, fields = confirm(signed_in, do="trigger:selected", ids=[job])
    posted = post_confirmed(signed_in, fields, follow=False)
    assert posted.status_code == 303
    path, _, query = posted.headers["Location"].partition("?")
    done = signed_in.get(path, query_string=query)
    assert "Trigger: 1 job done" in done.text
    again = signed_in.get(path, query_string=query)  # a reload: the GET, not the post
    assert again.status_code == 200
    with engine.connect() as conn:
        manual = conn.scalar(
            text("SELECT count(*) FROM runs WHERE job_id = :id AND origin = 'manual'"),
            {"id": job},
        )
    assert manual == 1
    forged = signed_in.get(path, query_string=query.replace("done=1", "done=1000"))
    assert forged.status_code == 400


def test_an_error_page_still_signs_out(signed_in: Browser) -> None:
    page = signed_in.get(f"/ui/jobs/{uuid.uuid4()}")
    assert page.status_code == 404
    token = parsed(page.text).inputs["csrf_token"]
    assert token
    assert signed_in.post("/ui/logout", {"csrf_token": token}).status_code == 303


def test_an_overdue_schedule_is_counted_and_filtered_as_the_gauge_counts_it(
    signed_in: Browser, user: Account, engine: Engine
) -> None:
    """X6: a recurring job whose due run no scheduler claimed for over a minute."""
    from shared.repository import jobs as job_repo

    stalled = create_job(signed_in.client, user, name="stalled", schedule={"repeat": "hourly"})
    create_job(signed_in.client, user, name="fine", schedule={"repeat": "hourly"})
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE runs SET due_at = now() - interval '2 minutes' WHERE job_id = :id"),
            {"id": stalled["id"]},
        )
        gauge = job_repo.count_overdue(conn, datetime.now(UTC) - job_repo.OVERDUE_AFTER)
    page = signed_in.get("/ui/schedules")
    assert '<a class="badge overdue" href="/ui/schedules?health=overdue"' in page.text
    assert ">1 overdue<" in page.text
    assert gauge >= 1  # the gauge counts everyone's, by the same rule
    overdue = signed_in.get("/ui/schedules", query_string="health=overdue")
    assert re.findall(r'<td><a href="/ui/jobs/[0-9a-f-]{36}">([^<]+)</a></td>', overdue.text) == [
        "stalled"
    ]
    with engine.begin() as conn:  # a scheduler claims it: no longer overdue
        conn.execute(
            text(
                "UPDATE runs SET state = 'queued', queued_at = now() "
                "WHERE job_id = :id AND state = 'pending'"
            ),
            {"id": stalled["id"]},
        )
    assert ">0 overdue<" in signed_in.get("/ui/schedules").text
    assert signed_in.get("/ui/schedules", query_string="health=bad").status_code == 400
