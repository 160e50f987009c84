"""The dashboard's routes, and its error pages."""

from __future__ import annotations

import logging
from typing import Any

import falcon

from api.dashboard import audit, bulk, ops, pages, reports, session
from api.dashboard.live import PanelReads, TickCache
from api.dashboard.liveness import HeartbeatRule
from api.dashboard.render import STATIC_PREFIX, Renderer, load_assets
from api.dashboard.session import PREFIX
from api.docs.resources import DocsAsset
from api.errors import (
    handle_domain_error,
    handle_http_error,
    handle_unexpected,
    retry_after,
    status_of,
)
from api.throttle import LoginThrottle
from shared.errors import ChronosError, Unauthorized
from shared.settings import Settings

log = logging.getLogger("chronos.api")


def add_dashboard_routes(
    app: falcon.App[Any, Any], deps: tuple[Any, ...], login_throttle: LoginThrottle
) -> None:
    assets = load_assets()
    renderer = Renderer(assets)
    # heartbeat(run, now): a running run's badge, with this deployment's interval and lease.
    renderer.env.globals["heartbeat"] = HeartbeatRule.of(deps[0])
    settings, _, clock = deps
    panels = ops.Panels(PanelReads(TickCache(clock), settings.queues), settings.lease_seconds)
    overview = ops.Overview(*deps, renderer=renderer, panels=panels)
    app.add_route(PREFIX, overview)
    app.add_route(f"{PREFIX}/", overview)
    app.add_route(
        f"{PREFIX}/live/{{panel}}", ops.LivePanel(*deps, renderer=renderer, panels=panels)
    )
    queues = ops.Queues(*deps, renderer=renderer, panels=panels)
    app.add_route(f"{PREFIX}/queues", queues)
    app.add_route(f"{PREFIX}/queues/{{name}}/{{action}}", queues, suffix="action")
    app.add_route(f"{PREFIX}/workers", ops.Workers(*deps, renderer=renderer, panels=panels))
    app.add_route(f"{PREFIX}/lag", reports.Lag(*deps, renderer=renderer))
    sign_in = pages.SignIn(*deps, renderer=renderer, throttle=login_throttle)
    app.add_route(f"{PREFIX}/login", sign_in)
    app.add_route(f"{PREFIX}/logout", pages.SignOut(*deps, renderer=renderer))
    app.add_route(f"{PREFIX}/jobs", pages.Jobs(*deps, renderer=renderer))
    bulk_actions = bulk.Bulk(*deps, renderer=renderer)
    app.add_route(f"{PREFIX}/jobs/bulk", bulk_actions)
    app.add_route(f"{PREFIX}/jobs/bulk/done", bulk_actions, suffix="done")
    job = pages.JobPage(*deps, renderer=renderer)
    app.add_route(f"{PREFIX}/jobs/{{job_id:uuid}}", job)
    app.add_route(f"{PREFIX}/jobs/{{job_id:uuid}}/runs", job, suffix="runs")
    app.add_route(f"{PREFIX}/jobs/{{job_id:uuid}}/preview", job, suffix="preview")
    app.add_route(f"{PREFIX}/jobs/{{job_id:uuid}}/ledger", job, suffix="ledger")
    app.add_route(f"{PREFIX}/jobs/{{job_id:uuid}}/{{action}}", job, suffix="action")
    app.add_route(f"{PREFIX}/runs/{{run_id:uuid}}", pages.RunPage(*deps, renderer=renderer))
    app.add_route(
        f"{PREFIX}/runs/{{run_id:uuid}}/live",
        pages.RunPage(*deps, renderer=renderer),
        suffix="live",
    )
    app.add_route(f"{PREFIX}/failures", reports.Failures(*deps, renderer=renderer))
    app.add_route(f"{PREFIX}/schedules", reports.Schedules(*deps, renderer=renderer))
    app.add_route(f"{PREFIX}/audit", audit.AuditPage(*deps, renderer=renderer))
    app.add_route(STATIC_PREFIX + "/{fingerprint}/{name}", DocsAsset(assets))
    errors = HtmlErrors(renderer, deps[0], deps[2])
    app.add_error_handler(ChronosError, errors.domain)
    app.add_error_handler(falcon.HTTPError, errors.http)
    app.add_error_handler(Exception, errors.unexpected)


def is_dashboard(req: falcon.Request) -> bool:
    return (req.path == PREFIX or req.path.startswith(f"{PREFIX}/")) and not req.path.startswith(
        f"{STATIC_PREFIX}/"
    )


class HtmlErrors:
    """Errors on the dashboard's pages as a page, not the JSON API's error body."""

    def __init__(self, renderer: Renderer, settings: Settings, clock: Any) -> None:
        self.renderer = renderer
        self.settings = settings
        self.clock = clock

    def domain(
        self, req: falcon.Request, resp: falcon.Response, error: ChronosError, params: Any
    ) -> None:
        if not is_dashboard(req) or isinstance(error, Unauthorized):
            handle_domain_error(req, resp, error, params)
            return
        retry_after(resp, error)
        self._page(req, resp, status_of(error), error.title, error.description)

    def http(
        self, req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError, params: Any
    ) -> None:
        if not is_dashboard(req):
            handle_http_error(req, resp, error, params)
            return
        description = error.description or (
            "No such page." if error.status_code == 404 else error.title
        )
        status = falcon.code_to_http_status(error.status_code)
        headers = error.headers or {}
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        for name, value in pairs:
            resp.set_header(name, value)  # Allow on a 405, Retry-After on a 429
        self._page(req, resp, status, error.title or "Error", description or "")

    def unexpected(
        self, req: falcon.Request, resp: falcon.Response, error: Exception, params: Any
    ) -> None:
        if isinstance(error, falcon.HTTPError) or not is_dashboard(req):
            handle_unexpected(req, resp, error, params)
            return
        log.exception("unhandled error on %s %s", req.method, req.path)
        self._page(
            req, resp, falcon.HTTP_500, "Internal error", "An unexpected error; it was logged."
        )

    def _page(
        self, req: falcon.Request, resp: falcon.Response, status: str, title: str, detail: str
    ) -> None:
        self.renderer.page(
            resp,
            "error.html",
            status,
            me=req.context.get("user"),
            read_only=True,
            # The page still has the sign-out form.
            csrf=session.csrf_token(req, resp, self.settings),
            now=self.clock.now(),
            path=req.path,
            title=title,
            detail=detail,
        )
