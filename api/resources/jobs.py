"""Jobs: submit, read, list, cancel, reschedule, pause, resume, trigger, upcoming, batch."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import falcon

from api import job_actions, serialize
from api.resources.base import Resource, current_user
from shared import audit, lifecycle, limits
from shared.errors import NotFound, ValidationError
from shared.repository import jobs as job_repo
from shared.repository import runs as run_repo
from shared.schemas import jobs as schemas
from shared.schemas.queries import JobFilters, PageQuery, UpcomingQuery
from shared.validation import parse_body, parse_submit


def fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def require_owned_job(
    req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
) -> None:
    """Falcon hook: the job must exist and belong to the caller (or the caller is an
    admin). Anything else is 404, so a job's existence is never revealed."""
    me = current_user(req)
    assert isinstance(resource, Resource)
    with resource.transaction(req) as conn:
        job = job_repo.get_job(conn, params["job_id"])
    if job is None or (job["owner_id"] != me.id and not me.is_admin):
        raise NotFound("job_id: no such job")
    req.context.job = job  # as read now: a page that only shows it need not read it again


class JobSubmit(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = current_user(req)
        body = self.body(req)
        key = req.get_header("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 255:
            raise ValidationError("Idempotency-Key", "expected 1 to 255 characters")
        now = self.clock.now()
        spec = parse_submit(
            body,
            now,
            is_admin=me.is_admin,
            shell_enabled=self.settings.enable_shell_jobs,
            queues=self.settings.queues,
        )
        quota = self.quota(me)
        if quota is not None:
            limits.check_spec(spec, quota.limits, now)
        with self.transaction(req) as conn:
            view, created = lifecycle.submit(
                conn,
                spec,
                owner_id=me.id,
                now=now,
                idempotency_key=key,
                fingerprint=fingerprint(body) if key is not None else None,
                quota=quota,
            )
            if created:  # a replay of an earlier submit changes nothing
                self.audit(conn, req, audit.job_created(view.job), at=now)
        serialize.respond(
            resp, serialize.job(view), falcon.HTTP_201 if created else falcon.HTTP_200
        )


class JobBatch(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = current_user(req)
        items = parse_body(schemas.BatchBody, self.body(req)).jobs
        now = self.clock.now()
        specs = [
            parse_submit(
                item,
                now,
                is_admin=me.is_admin,
                shell_enabled=self.settings.enable_shell_jobs,
                queues=self.settings.queues,
                prefix=f"jobs[{index}]",
            )
            for index, item in enumerate(items)
        ]
        quota = self.quota(me)
        if quota is not None:
            for index, spec in enumerate(specs):
                limits.check_spec(spec, quota.limits, now, prefix=f"jobs[{index}]")
        with self.transaction(req) as conn:
            views = lifecycle.submit_batch(conn, specs, owner_id=me.id, now=now, quota=quota)
            self.audit(conn, req, *(audit.job_created(view.job) for view in views), at=now)
        batch = schemas.JobBatch.model_construct(items=[serialize.job(view) for view in views])
        serialize.respond(resp, batch, falcon.HTTP_201)


class JobCollection(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = current_user(req)
        query: JobFilters = parse_body(JobFilters, req.params)
        pages = serialize.cursors(self.settings.jwt_secret, f"jobs:{me.id}")
        after = pages.after(query.cursor)
        with self.transaction(req) as conn:
            rows = job_repo.list_jobs(
                conn,
                owner_id=None if me.is_admin else me.id,
                filters=query.filters(),
                limit=query.limit + 1,
                after=after,
            )
            views = lifecycle.views(conn, rows[: query.limit])
        serialize.respond(resp, serialize.job_page(views, rows, query.limit, pages))


@falcon.before(require_owned_job)
class JobItem(Resource):
    """One job and the actions on it. Each action is one transaction over the job and
    its runs (see :mod:`shared.lifecycle`)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        with self.transaction(req) as conn:
            view = lifecycle.view(conn, job_id)
        serialize.respond(resp, serialize.job(view))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        view = job_actions.change_status(self, req, job_id, job_actions.StatusChange.CANCEL)
        serialize.respond(resp, serialize.job(view))

    def on_post_pause(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        view = job_actions.change_status(self, req, job_id, job_actions.StatusChange.PAUSE)
        serialize.respond(resp, serialize.job(view))

    def on_post_resume(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        view = job_actions.change_status(self, req, job_id, job_actions.StatusChange.RESUME)
        serialize.respond(resp, serialize.job(view))

    def on_put_reschedule(
        self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID
    ) -> None:
        view = job_actions.reschedule(self, req, job_id, self.body(req))
        serialize.respond(resp, serialize.job(view))

    def on_post_trigger(
        self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID
    ) -> None:
        run = job_actions.trigger(self, req, job_id)
        serialize.respond(resp, serialize.run(run), falcon.HTTP_202)

    def on_get_runs(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        query: PageQuery = parse_body(PageQuery, req.params)
        pages = serialize.cursors(self.settings.jwt_secret, f"runs:{job_id}")
        after = pages.after(query.cursor)
        with self.transaction(req) as conn:
            rows = run_repo.list_runs(conn, job_id, limit=query.limit + 1, after=after)
        serialize.respond(resp, serialize.run_page(rows, query.limit, pages))

    def on_get_upcoming(
        self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID
    ) -> None:
        count = parse_body(UpcomingQuery, req.params).count
        with self.transaction(req) as conn:
            job = job_repo.get_job(conn, job_id)
            if job is None:
                raise NotFound("job_id: no such job")
            times = lifecycle.upcoming(conn, job, count, self.clock.now())
        serialize.respond(resp, schemas.Upcoming.model_construct(items=times))
