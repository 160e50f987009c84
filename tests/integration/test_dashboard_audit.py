"""The audit page at /ui/audit, through Falcon's test client against the real database:
real changes made through the dashboard and the JSON API, then read back as a person
would, filtered, paged, refused to non-admins, within its query budget.

The run's database is shared with other tests, so each test looks at its own fresh
admin's (or user's) events, through the actor filter, unless it says otherwise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from falcon import testing
from sqlalchemy import Engine, event, text

from shared.audit import Action, ObjectType
from shared.repository import audit as audit_repo
from shared.repository import users as user_repo
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.helpers import create_job, unique
from tests.integration.test_dashboard import Browser


@dataclass
class Row:
    event_id: str
    cells: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return self.cells[1]

    @property
    def action(self) -> str:
        return self.cells[2]

    @property
    def object(self) -> str:
        return self.cells[3]

    @property
    def details(self) -> str:
        return self.cells[4]


class AuditRows(HTMLParser):
    """The audit table's rows: each cell's text (spaces squeezed) and the row's links."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-event-id"):
            self.rows.append(Row(str(found["data-event-id"])))
        elif self.rows and tag == "td":
            self.rows[-1].cells.append("")
            self._in_cell = True
        elif self.rows and self._in_cell and tag == "a" and found.get("href"):
            self.rows[-1].links.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False
        if tag == "tr" and self.rows:
            row = self.rows[-1]
            row.cells = [" ".join(cell.split()) for cell in row.cells]

    def handle_data(self, data: str) -> None:
        if self._in_cell and self.rows:
            self.rows[-1].cells[-1] += data


def rows_of(page: Any) -> list[Row]:
    parser = AuditRows()
    parser.feed(page.text)
    return parser.rows


def audit_page(browser: Browser, **params: str) -> Any:
    page = browser.get("/ui/audit", query_string=urlencode(params))
    assert page.status_code == 200, page.text
    return page


def signed_in_as(client: testing.TestClient, account: Account) -> Browser:
    browser = Browser(client)
    result = browser.sign_in(account)
    assert result.status_code == 303, result.text
    return browser


@pytest.fixture
def as_admin(client: testing.TestClient, admin: Account) -> Browser:
    return signed_in_as(client, admin)


def set_queue(client: testing.TestClient, admin: Account, name: str, **changes: Any) -> None:
    result = client.simulate_patch(f"/queues/{name}", json=changes, headers=admin.headers)
    assert result.status_code == 200, result.text


@pytest.fixture
def queue_left_running(client: testing.TestClient, admin: Account) -> Iterator[str]:
    """The "other" queue, running when the test starts and when it ends (the database is
    the whole run's)."""
    set_queue(client, admin, "other", paused=False, concurrency=None)
    yield "other"
    set_queue(client, admin, "other", paused=False, concurrency=None)


def db_event_ids(engine: Engine, actor_id: str) -> list[str]:
    """The actor's events as the database orders them for the page: newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM audit_events WHERE actor_id = :actor ORDER BY at DESC, id DESC"),
            {"actor": actor_id},
        )
        return [str(row.id) for row in rows]


# --- what the log shows -------------------------------------------------------------------


def test_changes_show_newest_first_with_actor_action_object_and_details(
    as_admin: Browser, admin: Account, queue_left_running: str
) -> None:
    client = as_admin.client
    job = create_job(client, admin, name=unique("audited"))
    assert as_admin.act(job["id"], "pause").status_code == 303
    set_queue(client, admin, queue_left_running, paused=True)
    set_queue(client, admin, queue_left_running, concurrency=5)

    rows = rows_of(audit_page(as_admin, actor=admin.username))

    assert [(row.actor, row.action) for row in rows] == [
        (admin.username, "queue.update"),
        (admin.username, "queue.update"),
        (admin.username, "job.pause"),
        (admin.username, "job.create"),
    ]
    concurrency, paused, pause, created = rows
    assert concurrency.details == "concurrency: null → 5"
    assert paused.details == "paused: false → true"
    assert paused.object.startswith("queue other")
    assert "/ui/queues" in paused.links
    assert f"name: {job['name']}" in pause.details
    assert "status: scheduled → paused" in pause.details
    assert pause.object.startswith(f"job {job['id']}")
    assert f"/ui/jobs/{job['id']}" in pause.links
    assert created.details.startswith(f"name: {job['name']} priority: 0 queue: default")
    assert created.details.endswith("type: noop")
    # Each row's actor, action and object narrow the log to their own kind.
    assert f"?{urlencode({'actor': admin.username, 'object_id': job['id']})}" in pause.links


def test_the_unfiltered_log_holds_the_same_events_in_the_same_order(
    as_admin: Browser, admin: Account, engine: Engine
) -> None:
    for _ in range(3):
        create_job(as_admin.client, admin, name=unique())
    mine = db_event_ids(engine, admin.id)
    listed: list[str] = []
    query: str | None = "limit=200"
    # Other tests' events may be newer (some pin a clock in the future): read on until
    # every one of the admin's is seen.
    while query is not None and not set(mine) <= set(listed):
        page = as_admin.get("/ui/audit", query_string=query)
        assert page.status_code == 200, page.text
        listed += [row.event_id for row in rows_of(page)]
        older = re.search(r'href="\?([^"]+)" rel="next">Older<', page.text)
        query = older.group(1).replace("&amp;", "&") if older else None
    assert [event_id for event_id in listed if event_id in mine] == mine
    assert len(listed) == len(set(listed))


def test_every_value_is_escaped(as_admin: Browser, admin: Account) -> None:
    job = create_job(as_admin.client, admin, name="<b onmouseover=x>bold</b>")
    page = audit_page(as_admin, object_id=job["id"])
    assert "<b onmouseover" not in page.text
    assert "&lt;b onmouseover=x&gt;bold&lt;/b&gt;" in page.text
    assert rows_of(page)[0].details.startswith("name: <b onmouseover=x>bold</b>")


def test_a_deleted_accounts_events_still_show_with_its_id(
    as_admin: Browser, admin: Account, user: Account, other_user: Account, engine: Engine
) -> None:
    create_job(as_admin.client, user, name=unique("gone"))
    removed = as_admin.client.simulate_delete(f"/users/{user.id}/delete", headers=admin.headers)
    assert removed.status_code == 204, removed.text

    purged = rows_of(audit_page(as_admin, actor=user.id))
    assert [(row.actor, row.action) for row in purged] == [
        (f"(deleted account) {user.id}", "job.create")
    ]
    assert f"?{urlencode({'actor': user.id})}" in purged[0].links
    # Their name is free now, and no longer finds their events.
    page = audit_page(as_admin, actor=user.username)
    assert rows_of(page) == []
    assert "No account is named" in page.text
    # The admin's deletion is theirs, on the user's id.
    deletion = rows_of(audit_page(as_admin, actor=admin.username, action="user.delete"))
    assert [(row.object, row.details) for row in deletion] == [
        (f"user {user.id} history", f"username: {user.username} role: user")
    ]

    # An account still being purged keeps its row for a while: its old name is shown
    # as deleted, as someone else may already have taken it.
    create_job(as_admin.client, other_user, name=unique("going"))
    with engine.begin() as conn:
        assert user_repo.mark_deleted(conn, uuid.UUID(other_user.id), datetime.now(UTC))
    [going] = rows_of(audit_page(as_admin, actor=other_user.id))
    assert going.actor == f"{other_user.username} (deleted account) {other_user.id}"


def test_an_operators_change_at_the_command_line_has_no_account(
    as_admin: Browser, engine: Engine
) -> None:
    object_id = str(uuid.uuid4())
    with engine.begin() as conn:
        audit_repo.record(
            conn,
            at=datetime.now(UTC),
            actor_id=None,
            action=Action.USER_CREATE,
            object_type=ObjectType.USER,
            object_id=object_id,
            request_id=None,
            details={"username": "cli-made", "role": "admin", "via": "cli"},
        )
    [row] = rows_of(audit_page(as_admin, object_id=object_id))
    assert row.actor == "operator (command line)"
    assert row.details == "username: cli-made role: admin via: cli"


# --- filters ------------------------------------------------------------------------------


def test_each_filter_narrows_the_log(
    client: testing.TestClient, as_admin: Browser, admin: Account, make_user: Any
) -> None:
    other_admin = make_user(role="admin")
    first = create_job(client, admin, name=unique())
    second = create_job(client, admin, name=unique())
    assert as_admin.act(first["id"], "pause").status_code == 303
    assert as_admin.act(first["id"], "resume").status_code == 303
    theirs = create_job(client, other_admin, name=unique())

    def listed(**params: str) -> list[tuple[str, str]]:
        return [
            (row.action, row.object.split()[1]) for row in rows_of(audit_page(as_admin, **params))
        ]

    mine = listed(actor=admin.username)
    assert mine == [
        ("job.resume", first["id"]),
        ("job.pause", first["id"]),
        ("job.create", second["id"]),
        ("job.create", first["id"]),
    ]
    # A username is matched as the account's, whatever its case.
    assert listed(actor=admin.username.upper()) == mine
    assert listed(actor=other_admin.username) == [("job.create", theirs["id"])]
    assert listed(object_id=first["id"]) == [
        ("job.resume", first["id"]),
        ("job.pause", first["id"]),
        ("job.create", first["id"]),
    ]
    assert listed(actor=admin.username, action="job.create") == [
        ("job.create", second["id"]),
        ("job.create", first["id"]),
    ]
    assert listed(object_id=first["id"], action="job.pause") == [("job.pause", first["id"])]
    assert listed(actor=other_admin.username, object_id=first["id"]) == []


def test_the_form_shows_the_filters_it_was_given(as_admin: Browser, admin: Account) -> None:
    page = audit_page(as_admin, actor=admin.username, action="job.pause", object_id="abc")
    assert f'name="actor" value="{admin.username}"' in page.text
    assert 'name="object_id" value="abc"' in page.text
    assert '<option value="job.pause" selected>' in page.text
    options = re.findall(r'<option value="([^"]*)"', page.text)
    assert options == ["", *[str(action) for action in Action]]


def test_an_unknown_username_is_an_empty_log_that_says_so(as_admin: Browser) -> None:
    page = audit_page(as_admin, actor="nobody-by-this-name")
    assert rows_of(page) == []
    assert "No account is named “nobody-by-this-name”" in page.text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"action": "job.explode"}, "action"),
        ({"actor": "no spaces allowed"}, "actor"),
        ({"actor": "x" * 65}, "actor"),
        ({"object_id": "x" * 201}, "object_id"),
        ({"object_id": "nul\x00"}, "object_id"),
        ({"actor": "nul\x00"}, "actor"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_a_malformed_filter_is_a_400_page_naming_it(
    as_admin: Browser, params: dict[str, str], named: str
) -> None:
    page = as_admin.get("/ui/audit", query_string=urlencode(params))
    assert page.status_code == 400, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert re.search(rf'role="alert">{named}: ', page.text), page.text
    assert 'action="/ui/audit"' in page.text  # the form, to correct it
    assert rows_of(page) == []


@pytest.mark.parametrize("name", ["actor", "object_id", "action"])
def test_a_filter_given_twice_is_a_400_naming_it(as_admin: Browser, name: str) -> None:
    page = as_admin.get("/ui/audit", query_string=f"{name}=job.pause&{name}=job.resume")
    assert page.status_code == 400, page.text
    assert f'role="alert">{name}: ' in page.text


def test_the_json_apis_cursor_is_not_the_pages(
    as_admin: Browser, admin: Account, settings: Settings
) -> None:
    for _ in range(2):
        create_job(as_admin.client, admin, name=unique())
    api = as_admin.client.simulate_get(
        "/audit", params={"actor": admin.id, "limit": "1"}, headers=admin.headers
    )
    assert api.status_code == 200, api.text
    page = as_admin.get(
        "/ui/audit",
        query_string=urlencode({"actor": admin.username, "cursor": api.json["next_cursor"]}),
    )
    assert page.status_code == 400
    assert "cursor: " in page.text


# --- paging -------------------------------------------------------------------------------


def test_older_links_walk_every_event_once_keeping_the_filters(
    as_admin: Browser, admin: Account, engine: Engine
) -> None:
    for _ in range(5):
        create_job(as_admin.client, admin, name=unique())
    seen: list[str] = []
    query: str | None = urlencode({"actor": admin.username, "limit": "2"})
    pages = 0
    while query is not None:
        page = as_admin.get("/ui/audit", query_string=query)
        assert page.status_code == 200, page.text
        rows = rows_of(page)
        assert {row.actor for row in rows} == {admin.username}
        seen += [row.event_id for row in rows]
        pages += 1
        older = re.search(r'href="\?([^"]+)" rel="next">Older<', page.text)
        query = older.group(1).replace("&amp;", "&") if older else None
        if pages > 1:
            assert "Newest" in page.text
        assert pages <= 3, "more pages than 5 events in pages of 2 need"
    assert pages == 3
    assert seen == db_event_ids(engine, admin.id)


# --- who may read it, and what it costs ---------------------------------------------------


def test_a_non_admin_gets_a_403_page(client: testing.TestClient, user: Account) -> None:
    browser = signed_in_as(client, user)
    page = browser.get("/ui/audit")
    assert page.status_code == 403
    assert page.headers["Content-Type"].startswith("text/html")
    assert "only an admin may read the audit log" in page.text
    assert rows_of(page) == []


def test_without_a_session_the_page_sends_the_browser_to_sign_in(
    client: testing.TestClient,
) -> None:
    result = Browser(client).get("/ui/audit", query_string="action=job.pause")
    assert result.status_code == 303
    assert result.headers["Location"] == "/ui/login?next=%2Fui%2Faudit%3Faction%3Djob.pause"


def test_the_page_runs_at_most_four_queries(
    as_admin: Browser, admin: Account, user: Account, engine: Engine
) -> None:
    """The session's user, the actor's account, and one list with every actor's name,
    however many events and actors the page shows."""
    for account in (admin, user):
        for _ in range(3):
            create_job(as_admin.client, account, name=unique())
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        for params in ({}, {"actor": admin.username}, {"actor": user.id, "action": "job.create"}):
            statements.clear()
            page = audit_page(as_admin, **params)
            assert len(rows_of(page)) >= 3, params
            assert len(statements) <= 4, (params, statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
