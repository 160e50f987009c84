"""The dashboard's pages and the posts they make.

Every page is a GET whose query string is the whole state (filters, search, page), so
it is a deep link, and the back button and a reload show the same rows. Every change is
a form post that carries a CSRF token, calls the same function as the JSON API
(api.job_actions), and answers with a redirect to the page it came from (post, redirect,
get), so a reload never repeats it.

A user sees their own jobs; an admin sees everyone's. Another user's job or run is a
404, as in the JSON API.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import falcon

from api import job_actions, serialize
from api.dashboard import lag, ledger, session
from api.dashboard.forms import MAX_FIELDS, Form, read_form
from api.dashboard.redact import redacted
from api.dashboard.render import Renderer
from api.dashboard.search import search_of
from api.dashboard.words import misfire_in_words, policies_in_words, schedule_in_words
from api.errors import retry_after, status_of
from api.resources.base import Resource, current_user
from api.resources.jobs import require_owned_job
from api.resources.users import sign_in
from api.throttle import LoginThrottle
from shared import jobtypes, lifecycle, limits, recurrence
from shared.errors import ChronosError, Forbidden, NotFound, ValidationError
from shared.jobs import schedule_of
from shared.recurrence import Schedule
from shared.repository import Row
from shared.repository import dashboard as dashboard_repo
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.schemas.users import Credentials
from shared.states import JobStatus, MisfirePolicy, RunOrigin
from shared.validation import parse_body, parse_schedule

JOBS_PER_PAGE = 50
RUNS_PER_PAGE = 50
UPCOMING = 10
RESULT_SHOWN_BYTES = 64 * 1024
# What a finished post says on the page it returns to (?done=...): fixed texts only.
DONE = {
    "cancel": "The job was cancelled; a run in progress was asked to stop.",
    "pause": "The job was paused: no new run starts until it is resumed.",
    "resume": "The job was resumed.",
    "trigger": "A run was queued now, outside the schedule.",
    "reschedule": "The job was rescheduled.",
}
RECURRENCE_FIELDS = ("repeat", "interval_seconds", "cron")


class Page(Resource):
    """A dashboard page: signed in with the session cookie (api.auth), not a bearer
    token; the page's own connection is the request's, as for the JSON API."""

    session_cookie = True

    def __init__(self, *deps: Any, renderer: Renderer) -> None:
        super().__init__(*deps)
        self.renderer = renderer

    def show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        template: str,
        status: str = falcon.HTTP_200,
        **context: Any,
    ) -> None:
        user = req.context.get("user")
        self.renderer.page(
            resp,
            template,
            status,
            me=user,
            read_only=self.settings.ui_read_only,
            csrf=session.csrf_token(req, resp, self.settings),
            now=self.clock.now(),
            path=req.path,
            **context,
        )

    def form(self, req: falcon.Request) -> Form:
        """A post's form, once its CSRF token checked out; 403 in read-only mode."""
        form = read_form(req, self.settings.max_body_bytes)
        session.check_csrf(req, dict(form.pairs))
        if self.settings.ui_read_only:
            raise Forbidden("CHRONOS_UI_READ_ONLY: the dashboard is read-only")
        return form


class SignIn(Page):
    auth_required = False

    def __init__(self, *deps: Any, renderer: Renderer, throttle: LoginThrottle) -> None:
        super().__init__(*deps, renderer=renderer)
        self.throttle = throttle

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp, "login.html", next=session.safe_next(req.get_param("next")))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = read_form(req, self.settings.max_body_bytes)
        session.check_csrf(req, dict(form.pairs))
        target = session.safe_next(form.get("next"))
        try:
            credentials = parse_body(
                Credentials, {"username": form.get("username"), "password": form.get("password")}
            )
            token = sign_in(self, req, self.throttle, credentials)
        except ChronosError as error:
            retry_after(resp, error)
            self.show(
                req,
                resp,
                "login.html",
                status_of(error),
                next=target,
                error=error.description,
                username=form.get("username")[:64],
            )
            return
        session.set_session(resp, self.settings, token)
        see_other(resp, target)


class SignOut(Page):
    auth_required = False

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = read_form(req, self.settings.max_body_bytes)
        session.check_csrf(req, dict(form.pairs))
        session.end_session(resp)
        see_other(resp, f"{session.PREFIX}/login")


def see_other(resp: falcon.Response, location: str) -> None:
    """After a post, the page to show (303: the browser GETs it, and a reload does not
    post again). Set on the response, not raised, so its cookies go with it."""
    resp.status = falcon.HTTP_303
    resp.location = location


class Jobs(Page):
    """``/ui/jobs``: filters, search and keyset paging, all in the query string."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = current_user(req)
        params = {key: value for key, value in req.params.items() if value != ""}
        try:
            filters, search = search_of(params, is_admin=me.is_admin)
        except ValidationError as error:
            self.show_jobs(req, resp, [], None, params, error=error, status=falcon.HTTP_400)
            return
        pages = serialize.cursors(self.settings.jwt_secret, f"ui-jobs:{me.id}")
        with self.transaction(req) as conn:
            rows = dashboard_repo.search_jobs(
                conn,
                search.match(),
                owner_id=None if me.is_admin else me.id,
                limit=filters.limit + 1,
                after=pages.after(filters.cursor),
            )
            views = lifecycle.views(conn, rows[: filters.limit])
        cursor = pages.next(rows, filters.limit)
        self.show_jobs(req, resp, views, cursor, params)

    def show_jobs(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        views: list[lifecycle.JobView],
        cursor: str | None,
        params: dict[str, Any],
        *,
        error: ChronosError | None = None,
        status: str = falcon.HTTP_200,
    ) -> None:
        shown = {key: value for key, value in params.items() if isinstance(value, str)}
        next_link = None
        if cursor is not None:
            next_link = "?" + urlencode({**shown, "cursor": cursor})
        self.show(
            req,
            resp,
            "jobs.html",
            status,
            views=views,
            params=shown,
            next_link=next_link,
            first_link="?" + urlencode({k: v for k, v in shown.items() if k != "cursor"}),
            error=error.description if error is not None else None,
            statuses=list(JobStatus),
            types=sorted(jobtypes.REGISTRY),
            queues=self.settings.queues,
            in_words=lambda job: schedule_in_words(schedule_of(job)),
        )


@falcon.before(require_owned_job)
class JobPage(Page):
    """``/ui/jobs/{id}``: the job, its schedule and policies in words, the next
    occurrences (in its zone and UTC, with their DST badges), its runs, and the actions
    on it. The reschedule form previews its next occurrences against the current ones
    before it is saved (``on_get_preview``); the occurrence ledger is a fragment of its
    own (``on_get_ledger``), fetched once the page has loaded, so the page itself keeps
    to its handful of queries."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        done = DONE.get(req.get_param("done") or "")
        self.show_job(req, resp, job_id, done=done)

    def show_job(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        job_id: uuid.UUID,
        *,
        done: str | None = None,
        error: ChronosError | None = None,
        form: Form | None = None,
    ) -> None:
        pages = serialize.cursors(self.settings.jwt_secret, f"runs:{job_id}")
        cursor = req.get_param("runs_cursor")
        try:
            after = pages.after(cursor)
        except ValidationError:
            after = None
        with self.transaction(req) as conn:
            if form is None:  # a plain GET: the job as the owner check just read it
                view = lifecycle.views(conn, [req.context.job])[0]
            else:  # after a post that failed: read it again
                view = lifecycle.view(conn, job_id)
            runs = run_repo.list_runs(conn, job_id, limit=RUNS_PER_PAGE + 1, after=after)
            upcoming = lifecycle.upcoming(conn, view.job, UPCOMING, self.clock.now())
        job = view.job
        next_runs = pages.next(runs, RUNS_PER_PAGE)
        self.show(
            req,
            resp,
            "job.html",
            status_of(error) if error is not None else falcon.HTTP_200,
            view=view,
            job=job,
            schedule=schedule_in_words(schedule_of(job)),
            policies=policies_in_words(job),
            payload=json.dumps(redacted(job["payload"]), indent=2, sort_keys=True),
            upcoming=ledger.occurrences(schedule_of(job), upcoming),
            runs=runs[:RUNS_PER_PAGE],
            runs_next=f"?runs_cursor={next_runs}" if next_runs else None,
            live=any(run["state"] in ("queued", "running") for run in runs[:RUNS_PER_PAGE]),
            done=done,
            error=error.description if error is not None else None,
            reschedule=reschedule_values(job, form),
            recurring=lifecycle.is_recurring(job),
        )

    def on_get_runs(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        """The runs table alone, which the job page polls while a run is live."""
        with self.transaction(req) as conn:
            runs = run_repo.list_runs(conn, job_id, limit=RUNS_PER_PAGE + 1, after=None)
        self.show(
            req,
            resp,
            "_runs.html",
            job_id=job_id,
            runs=runs[:RUNS_PER_PAGE],
            live=any(run["state"] in ("queued", "running") for run in runs[:RUNS_PER_PAGE]),
        )

    def on_post_action(
        self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID, action: str
    ) -> None:
        form = self.form(req)
        try:
            if action in set(job_actions.StatusChange):
                job_actions.change_status(self, req, job_id, job_actions.StatusChange(action))
            elif action == "trigger":
                job_actions.trigger(self, req, job_id)
            elif action == "reschedule":
                job_actions.reschedule(self, req, job_id, reschedule_body(form))
            else:
                raise NotFound("action: no such action")
        except ChronosError as error:
            if isinstance(error, NotFound):
                raise
            self.show_job(req, resp, job_id, error=error, form=form)
            return
        see_other(resp, f"{session.PREFIX}/jobs/{job_id}?done={action}")

    def on_get_ledger(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        """The occurrence ledger alone (X1): what the schedule implied against its runs,
        and the job's start lag over 1 h to 30 d from its hourly rollups (X2)."""
        now = self.clock.now()
        with self.transaction(req) as conn:
            matched = ledger.job_ledger(conn, req.context.job, now, self.settings)
            job_lag = lag.job_lag(conn, job_id, now)
        # htmx swaps the fragment into the job page; the link without a script opens it
        # as a page of its own.
        fragment = req.get_header("HX-Request") == "true"
        self.show(
            req,
            resp,
            "_ledger.html" if fragment else "ledger_page.html",
            job=req.context.job,
            ledger=matched,
            verdicts=ledger.VERDICT_WORDS,
            job_lag=job_lag,
        )

    def on_get_preview(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        """The reschedule form's dry run (X4): the next occurrences now and once the form
        is saved, side by side. It validates the form as the post would and writes
        nothing; a field it refuses is named, with a 400. (The post can still be
        refused for the job's state, such as a one-off job with a live run: a 409.)"""
        job: Row = req.context.job
        now = self.clock.now()
        with self.transaction(req) as conn:
            current = lifecycle.upcoming(conn, job, UPCOMING, now)
        shown: dict[str, Any] = {
            "old": ledger.occurrences(schedule_of(job), current),
            "old_zone": job["timezone"],
        }
        try:
            schedule, first_due = self.proposed_schedule(req, job, now)
        except ValidationError as error:
            self.show(req, resp, "_preview.html", status_of(error), **shown, new=None, error=error)
            return
        moments = upcoming_if_rescheduled(job, schedule, first_due, UPCOMING, now)
        new = ledger.occurrences(schedule, moments)
        self.show(
            req, resp, "_preview.html", **shown, new=new, new_zone=schedule.timezone, error=None
        )

    def proposed_schedule(
        self, req: falcon.Request, job: Row, now: datetime
    ) -> tuple[Schedule, datetime]:
        """The schedule the form would save and its first occurrence, checked as
        api.job_actions.reschedule and lifecycle.reschedule check them."""
        body = reschedule_body(query_form(req))
        schedule, first_due = parse_schedule(lifecycle.reschedule_body(job, body), now, prefix="")
        quota = self.quota(current_user(req))
        if quota is not None:
            limits.check_schedule(schedule, quota.limits, now, prefix="")
        if schedule.max_runs is not None and job["run_count"] >= schedule.max_runs:
            raise ValidationError(
                "max_runs", f"the job has already run {job['run_count']} times; raise max_runs"
            )
        return schedule, first_due


def query_form(req: falcon.Request) -> Form:
    """The reschedule form's fields as the preview's query string carries them (htmx
    sends them with the GET), read as strictly as a posted form."""
    try:
        pairs = parse_qsl(req.query_string, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise ValidationError("query", f"more than {MAX_FIELDS} fields") from None
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise ValidationError("query", "a field holds a NUL character")
    return Form(tuple(pairs))


def upcoming_if_rescheduled(
    job: Row, schedule: Schedule, first_due: datetime, count: int, now: datetime
) -> list[datetime]:
    """What ``GET /jobs/{id}/upcoming`` (lifecycle.upcoming) would answer once the job is
    rescheduled to ``schedule``: lifecycle.reschedule moves (or makes) the pending
    occurrence at ``first_due`` and keeps the run count and misfire policy, from which
    lifecycle.upcoming counts on, by the same recurrence function, as here."""
    after = first_due if job["misfire_policy"] == MisfirePolicy.RUN_ALL else max(first_due, now)
    rest = recurrence.upcoming(schedule, after, count - 1, already_run=job["run_count"] + 1)
    return [first_due, *rest][:count]


def reschedule_body(form: Form) -> dict[str, Any]:
    """The reschedule form as the JSON API's body: the whole schedule, blank fields as
    null (so a recurring job can be made one-off, and the reverse)."""
    body: dict[str, Any] = {"run_at": form.optional("run_at")}
    kind = form.get("kind")
    if kind not in ("once", *RECURRENCE_FIELDS):
        raise ValidationError("kind", "expected once, repeat, interval_seconds or cron")
    for field in RECURRENCE_FIELDS:
        body[field] = form.optional(field) if kind == field else None
    if body["interval_seconds"] is not None:
        try:
            body["interval_seconds"] = int(body["interval_seconds"])
        except ValueError:
            raise ValidationError("interval_seconds", "expected a whole number") from None
    body["timezone"] = form.optional("timezone") or "UTC"
    body["end_at"] = form.optional("end_at")
    max_runs = form.optional("max_runs")
    try:
        body["max_runs"] = int(max_runs) if max_runs is not None else None
    except ValueError:
        raise ValidationError("max_runs", "expected a whole number") from None
    return body


def reschedule_values(job: Row, form: Form | None) -> dict[str, str]:
    """What the reschedule form shows: what was just posted, else the job's schedule."""
    if form is not None:
        return {
            key: form.get(key)
            for key in ("kind", "run_at", *RECURRENCE_FIELDS, "timezone", "end_at", "max_runs")
        }
    kind = next((field for field in RECURRENCE_FIELDS if job[field] is not None), "once")
    return {
        "kind": kind,
        "run_at": job["run_at"].isoformat() if job["run_at"] else "",
        "repeat": job["repeat"] or "",
        "interval_seconds": str(job["interval_seconds"] or ""),
        "cron": job["cron"] or "",
        "timezone": job["timezone"] or "UTC",
        "end_at": job["end_at"].isoformat() if job["end_at"] else "",
        "max_runs": str(job["max_runs"] or ""),
    }


def require_owned_run(
    req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
) -> None:
    """The run must be of a job of the caller's (or the caller an admin); else 404."""
    me = current_user(req)
    assert isinstance(resource, Resource)
    with resource.transaction(req) as conn:
        run = dashboard_repo.run_detail(conn, params["run_id"])
        job = job_repo.get_job(conn, run["job_id"]) if run is not None else None
    if run is None or job is None or (job["owner_id"] != me.id and not me.is_admin):
        raise NotFound("run_id: no such run")
    req.context.run, req.context.job = run, job


# A run still to come to an end: its page polls its body (``RunPage.on_get_live``).
LIVE_RUN_STATES = frozenset({"queued", "running"})


@falcon.before(require_owned_run)
class RunPage(Page):
    """``/ui/runs/{id}``: the run's timeline, every attempt of its occurrence, its error
    and result; for a skipped run, why; for an occurrence claimed late, what its misfire
    policy did; for a running one, how old its heartbeat is and when the rescuer would
    mark it lost (api.dashboard.liveness). While the run is queued or running, the page
    fetches its body again every 2 s (``on_get_live``), so the badge moves on its own."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: uuid.UUID) -> None:
        self.show(req, resp, "run.html", **self.details(req))

    def on_get_live(self, req: falcon.Request, resp: falcon.Response, run_id: uuid.UUID) -> None:
        """The page's body alone: what the page polls while the run is live."""
        self.show(req, resp, "_run_live.html", **self.details(req))

    def details(self, req: falcon.Request) -> dict[str, Any]:
        run: Row = req.context.run
        job: Row = req.context.job
        skipped = (run["result"] or {}).get("skipped") if run["state"] == "skipped" else None
        with self.transaction(req) as conn:
            attempts = dashboard_repo.attempts(conn, job["id"], run["scheduled_for"])
            blocker = None
            # The overlap rule counted the runs live when the scheduler claimed this
            # occurrence, the instant the skip records as finished_at: not scheduled_for,
            # which a claim made ahead of time precedes and a late one follows.
            if skipped and "overlap" in str(skipped) and run["finished_at"] is not None:
                blocker = dashboard_repo.blocking_run(conn, job["id"], run["finished_at"])
        return {
            "run": run,
            "job": job,
            "attempts": attempts,
            "skipped": skipped,
            "blocker": blocker,
            "misfire": self.misfire(run, job, skipped),
            "result": capped_json(run["result"]),
            "live": run["state"] in LIVE_RUN_STATES,
        }

    def misfire(self, run: Row, job: Row, skipped: Any) -> dict[str, Any] | None:
        """When an occurrence of a recurring schedule was claimed past the misfire grace:
        when it was claimed, and what the job's misfire policy did. None otherwise."""
        if run["origin"] != RunOrigin.SCHEDULE or run["attempt"] != 1:
            return None  # retries and manual triggers are never misfires
        if not lifecycle.is_recurring(job):
            return None  # a one-off job runs however late
        if skipped is not None:
            # Both misfire skips' reasons say "missed" (shared.claim_plan); an overlap
            # or max_runs skip, whose reason does not, was no misfire's doing.
            if "missed" not in str(skipped):
                return None
            claimed, ran = run["finished_at"], False
        else:
            # queued_at is the claim (moved on only when a lost publish is sent again).
            claimed, ran = run["queued_at"], True
        if claimed is None:
            return None
        grace = timedelta(seconds=self.settings.misfire_grace_seconds)
        late = claimed - run["scheduled_for"]
        words = misfire_in_words(job["misfire_policy"], late, grace, ran=ran)
        return None if words is None else {"claimed_at": claimed, "words": words}


def capped_json(value: Any) -> str | None:
    """A result as indented JSON, cut at 64 KiB (the worker stores up to 256 KiB)."""
    if value is None:
        return None
    text = json.dumps(redacted(value), indent=2, sort_keys=True)
    if len(text.encode()) <= RESULT_SHOWN_BYTES:
        return text
    return text.encode()[:RESULT_SHOWN_BYTES].decode(errors="ignore") + "\n… (cut at 64 KiB)"
