"""``/ui/audit``: the audit log for admins, newest first, over the same repository
listing and filters as ``GET /audit``.

The actor filter takes a username, as an operator knows people by name; the page looks
the account up and lists by its id. A name no account has gives an empty page that says
so. A deleted account's name is free for anyone to take, so its events are found by the
account's id instead, which the same field accepts once no account has it as a name (the
page links every deleted actor that way).

Cursors are the API's, signed for a scope of the page's own (``ui-audit``), as the other
pages' are (``ui-jobs:…``, ``ui-schedules:…``): a cursor is good for the listing that
issued it, so a ``next_cursor`` of ``GET /audit`` pasted here gets 400, and the two
listings may come to differ without one misreading the other's cursors. The scope names
no admin, as every admin sees the same events.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import falcon
from sqlalchemy import Connection

from api import serialize
from api.dashboard.pages import Page
from api.resources.base import current_user
from shared.audit import Action, ObjectType
from shared.errors import Forbidden, ValidationError
from shared.repository import Row
from shared.repository import audit as audit_repo
from shared.repository import users as user_repo
from shared.schemas.queries import UUID_TEXT, AuditFilters
from shared.validation import parse_body, parse_username

SCOPE = "ui-audit"
# What the page's links carry over from its query string.
KEPT = ("actor", "object_id", "action", "limit")
# A summary's values are short; a long job name is cut rather than widening the table.
SHOWN_CHARS = 200
# The fields of a summary that name its object, shown first.
NAMES = frozenset({"name", "username"})


class AuditPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not current_user(req).is_admin:
            raise Forbidden("only an admin may read the audit log")
        params = {key: value for key, value in req.params.items() if value != ""}
        pages = serialize.cursors(self.settings.jwt_secret, SCOPE, column="at")
        try:
            actor = parse_username(params["actor"], "actor") if "actor" in params else None
            query: AuditFilters = parse_body(
                AuditFilters, {key: value for key, value in params.items() if key != "actor"}
            )
            after = pages.after(query.cursor)
        except ValidationError as error:
            self.show_events(req, resp, params, [], None, error=error.description)
            return
        filters = query.filters()
        rows: list[Row] = []
        unknown = None
        with self.transaction(req) as conn:
            if actor is not None:
                actor_id = actor_of(conn, actor)
                if actor_id is None:
                    unknown = (
                        f"No account is named “{actor}”, so no event is shown. A deleted "
                        "account's events are found by its id."
                    )
                filters["actor_id"] = actor_id
            if unknown is None:
                rows = audit_repo.list_events_with_actors(
                    conn, filters=filters, limit=query.limit + 1, after=after
                )
        cursor = pages.next(rows, query.limit)
        self.show_events(req, resp, params, rows[: query.limit], cursor, notice=unknown)

    def show_events(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        params: Mapping[str, Any],
        events: list[Row],
        cursor: str | None,
        *,
        error: str | None = None,
        notice: str | None = None,
    ) -> None:
        shown = {key: params[key] for key in KEPT if isinstance(params.get(key), str)}
        self.show(
            req,
            resp,
            "audit.html",
            falcon.HTTP_400 if error is not None else falcon.HTTP_200,
            events=events,
            params=shown,
            paged="cursor" in params,
            actions=list(Action),
            error=error,
            notice=notice,
            older_link="?" + urlencode({**shown, "cursor": cursor}) if cursor else None,
            newest_link="?" + urlencode(shown),
            object_link=object_link,
            in_words=details_in_words,
        )


def actor_of(conn: Connection, name: str) -> uuid.UUID | None:
    """The account named ``name``; else, if ``name`` is an id, that id (a deleted
    account's events); else None."""
    account = user_repo.find_user_by_username(conn, name)
    if account is not None:
        account_id: uuid.UUID = account["id"]
        return account_id
    return uuid.UUID(name) if UUID_TEXT.fullmatch(name) else None


def object_link(object_type: str, object_id: str) -> str | None:
    """The dashboard page of an event's object, where it has one."""
    if object_type == ObjectType.JOB:
        return f"/ui/jobs/{quote(object_id, safe='')}"
    if object_type == ObjectType.QUEUE:
        return "/ui/queues"
    return None


def details_in_words(details: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """An event's summary as (field, text) lines: a change as ``false → true``, a
    nested summary (a schedule) as ``repeat=daily, timezone=UTC``. The object's name
    first, then the fields by name (JSONB keeps keys shortest first, which reads as no
    order at all)."""
    lines = []
    for field, value in sorted((details or {}).items(), key=shown_order):
        if isinstance(value, Mapping) and set(value) == {"from", "to"}:
            text = f"{compact(value['from'])} → {compact(value['to'])}"
        else:
            text = compact(value)
        lines.append((str(field), text))
    return lines


def shown_order(item: tuple[str, Any]) -> tuple[bool, str]:
    return (item[0] not in NAMES, item[0])


def compact(value: Any) -> str:
    """One value of a summary, short, in the JSON spelling of true, false and null."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping):
        pairs = sorted(value.items())
        text = ", ".join(f"{key}={compact(item)}" for key, item in pairs) or "none"
    elif isinstance(value, list):
        text = ", ".join(compact(item) for item in value) or "none"
    else:
        text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
