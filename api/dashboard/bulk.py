"""Bulk cancel, pause, resume and trigger, on the jobs ticked on the jobs page or on every
job its search matches.

It takes two steps, and the count travels between them. ``GET /ui/jobs/bulk`` changes
nothing: it shows how many jobs the action would touch (and the first of them), and a
form that posts that count. ``POST /ui/jobs/bulk`` finds the set again; if it is no
longer the size that was confirmed (jobs were added, finished or deleted meanwhile), it
says so with the new count and changes nothing, instead of acting on a set nobody saw.
Otherwise each job goes through the JSON API's own action (api.job_actions), one
transaction and one audit row each, and a job the action does not apply to (cancelling
a finished job) is listed with the reason, not fatal to the rest.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import falcon

from api import job_actions
from api.dashboard.forms import Form
from api.dashboard.pages import Page
from api.dashboard.search import search_of
from api.resources.base import current_user
from shared.errors import ChronosError, Conflict, ValidationError
from shared.repository import dashboard as dashboard_repo

# The most jobs one bulk action takes: each is its own transaction, and the whole must
# answer well within gunicorn's timeout.
MOST = 1000
ACTIONS = {"cancel": "Cancel", "pause": "Pause", "resume": "Resume", "trigger": "Trigger"}
SCOPES = ("selected", "all")
# The jobs page's fields that are its search (kept through the two steps).
SEARCH_FIELDS = ("q", "status", "type", "queue", "name", "recurring", "owner")
SHOWN = 20


class Bulk(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = {key: value for key, value in req.params.items() if value != ""}
        action, scope = read_choice(str(params.get("do", "")))
        ids = params.get("ids", [])
        ids = [ids] if isinstance(ids, str) else list(ids)
        chosen = self.chosen(req, scope, ids, params)
        if len(chosen) > MOST:
            raise ValidationError(
                "scope", f"more than {MOST} jobs match; narrow the search (at most {MOST})"
            )
        with self.transaction(req) as conn:
            shown = dashboard_repo.jobs_by_id(conn, chosen[:SHOWN])
        search = {key: str(params[key]) for key in SEARCH_FIELDS if key in params}
        self.show(
            req,
            resp,
            "bulk.html",
            action=action,
            label=ACTIONS[action],
            scope=scope,
            ids=[str(job_id) for job_id in chosen] if scope == "selected" else [],
            count=len(chosen),
            shown=shown,
            search=search,
            back="/ui/jobs?" + urlencode(search),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = self.form(req)
        action, scope = read_choice(f"{form.get('action')}:{form.get('scope')}")
        confirmed = confirmed_count(form)
        params = {key: form.get(key) for key in SEARCH_FIELDS if form.get(key)}
        chosen = self.chosen(req, scope, form.getall("ids"), params)
        if len(chosen) != confirmed:
            raise Conflict(
                f"count: {len(chosen)} jobs match now, not the {confirmed} you confirmed; "
                "nothing was changed. Review the set and confirm again."
            )
        done, refused = [], []
        for job_id in chosen:
            try:
                self.act(req, job_id, action)
            except ChronosError as error:
                refused.append((job_id, error.description))
            else:
                done.append(job_id)
        self.show(
            req,
            resp,
            "bulk_done.html",
            label=ACTIONS[action],
            done=len(done),
            refused=refused,
            back="/ui/jobs?" + urlencode(params),
        )

    def chosen(
        self, req: falcon.Request, scope: str, ids: list[str], params: dict[str, Any]
    ) -> list[uuid.UUID]:
        """The jobs the action would take: the ticked ones that are the user's (any, for
        an admin), or up to MOST + 1 that the search matches."""
        me = current_user(req)
        owner_id = None if me.is_admin else me.id
        with self.transaction(req) as conn:
            if scope == "selected":
                return dashboard_repo.owned_ids(conn, parse_ids(ids), owner_id=owner_id)
            _, search = search_of(params, is_admin=me.is_admin)
            return dashboard_repo.matching_ids(
                conn, search.match(), owner_id=owner_id, most=MOST + 1
            )

    def act(self, req: falcon.Request, job_id: uuid.UUID, action: str) -> None:
        if action == "trigger":
            job_actions.trigger(self, req, job_id)
        else:
            job_actions.change_status(self, req, job_id, job_actions.StatusChange(action))


def read_choice(raw: str) -> tuple[str, str]:
    """``pause:selected`` → (pause, selected); anything else is a 400 naming it."""
    action, _, scope = raw.partition(":")
    if action not in ACTIONS:
        raise ValidationError("action", f"expected one of {', '.join(ACTIONS)}")
    if scope not in SCOPES:
        raise ValidationError("scope", "expected selected or all")
    return action, scope


def parse_ids(raw: list[str]) -> list[uuid.UUID]:
    if not raw:
        raise ValidationError("ids", "tick at least one job, or act on all matching")
    if len(raw) > MOST:
        raise ValidationError("ids", f"at most {MOST} jobs at once")
    try:
        return sorted({uuid.UUID(value) for value in raw})
    except ValueError:
        raise ValidationError("ids", "expected job ids") from None


def confirmed_count(form: Form) -> int:
    raw = form.get("count")
    if not raw.isdigit() or len(raw) > 7:
        raise ValidationError("count", "expected the number of jobs confirmed")
    return int(raw)
