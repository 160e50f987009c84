"""Bulk cancel, pause, resume and trigger, on the jobs ticked on the jobs page or on every
job its search matches.

It takes two steps, and the set travels between them. ``GET /ui/jobs/bulk`` changes
nothing: it shows how many jobs the action would touch (and the first of them), and a
form that posts that count and a digest of exactly those jobs. ``POST /ui/jobs/bulk``
finds the set again; if it is not the set that was confirmed (jobs were added, finished
or deleted meanwhile, even one for another at the same count), it says so with the new
count and changes nothing, instead of acting on a set nobody saw. Otherwise each job goes
through the JSON API's own action (api.job_actions), one transaction and one audit row
each, and a job the action does not apply to (cancelling a finished job) is listed with
the reason, not fatal to the rest. The post answers with a redirect to its result (a
signed link), so a reload does not act again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import falcon

from api import job_actions
from api.dashboard import session
from api.dashboard.forms import Form
from api.dashboard.pages import Page, see_other
from api.dashboard.search import search_of
from api.dashboard.session import PREFIX
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
RESULT_FIELDS = ("action", "done", "refused", "more", "back")


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
            digest=self.digest(chosen),
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
        if len(chosen) != confirmed or not hmac.compare_digest(
            self.digest(chosen), form.get("digest")
        ):
            raise Conflict(
                f"count: {len(chosen)} jobs match now, and not the {confirmed} you confirmed; "
                "nothing was changed. Review the set and confirm again."
            )
        done, refused = 0, []
        for job_id in chosen:
            try:
                self.act(req, job_id, action)
            except ChronosError as error:
                refused.append([str(job_id), error.description[:200]])
            else:
                done += 1
        session.log_action(req, f"bulk {action}", f"{scope} jobs", done)
        result = {
            "action": action,
            "done": str(done),
            "refused": json.dumps(refused[:SHOWN]),
            "more": str(max(0, len(refused) - SHOWN)),
            "back": urlencode(params),
        }
        see_other(resp, f"{PREFIX}/jobs/bulk/done?{urlencode(self.signed(result))}")

    def on_get_done(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The result of a bulk post, from the signed link it answered with."""
        result = {key: req.get_param(key) or "" for key in RESULT_FIELDS}
        if not hmac.compare_digest(self.signed(result)["sig"], req.get_param("sig") or ""):
            raise ValidationError("sig", "not a result link this dashboard made")
        action = result["action"]
        self.show(
            req,
            resp,
            "bulk_done.html",
            label=ACTIONS.get(action, action),
            done=int(result["done"]),
            refused=json.loads(result["refused"]),
            more=int(result["more"]),
            back=f"{PREFIX}/jobs?{result['back']}",
        )

    def digest(self, job_ids: list[uuid.UUID]) -> str:
        """Names exactly this set of jobs (a count alone would not)."""
        joined = b"".join(job_id.bytes for job_id in sorted(job_ids))
        return hmac.new(self._key(), b"set\x00" + joined, hashlib.sha256).hexdigest()

    def signed(self, result: dict[str, str]) -> dict[str, str]:
        text = urlencode(sorted((key, result[key]) for key in RESULT_FIELDS))
        sig = hmac.new(self._key(), b"result\x00" + text.encode(), hashlib.sha256).hexdigest()
        return {**result, "sig": sig}

    def _key(self) -> bytes:
        return hashlib.sha256(b"chronos-bulk\x00" + self.settings.jwt_secret.encode()).digest()

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
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 7:
        raise ValidationError("count", "expected the number of jobs confirmed")
    return int(raw)
