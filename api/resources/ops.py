"""Health, readiness, metrics and the OpenAPI document: no token needed."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import falcon
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.openapi import openapi_json
from api.resources.base import Resource
from shared.repository import runs as run_repo


class Health(Resource):
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready(Resource):
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            resp.status = falcon.HTTP_503
            resp.media = {
                "title": "Not ready",
                "description": f"database: unreachable ({error.__class__.__name__})",
            }
            return
        resp.media = {"status": "ok"}


class RequestCounter:
    """Falcon middleware counting responses per route and status, for /metrics. The
    counts are per gunicorn worker process, as Prometheus client libraries do without
    their multiprocess mode."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.lock = threading.Lock()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        route = req.uri_template or "unmatched"
        key = (req.method, route, str(resp.status)[:3])
        with self.lock:
            self.counts[key] += 1


class Metrics(Resource):
    auth_required = False

    def __init__(self, *args: Any, counter: RequestCounter) -> None:
        super().__init__(*args)
        self.counter = counter

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        lines = [
            "# HELP chronos_http_requests_total HTTP responses by method, route and status.",
            "# TYPE chronos_http_requests_total counter",
        ]
        with self.counter.lock:
            counts = sorted(self.counter.counts.items())
        for (method, route, status), count in counts:
            lines.append(
                f'chronos_http_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP chronos_runs Runs in each live state.",
            "# TYPE chronos_runs gauge",
        ]
        try:
            with self.engine.connect() as conn:
                by_state = run_repo.count_live_by_state(conn)
            up = 1
        except SQLAlchemyError:
            by_state, up = {}, 0
        for state in ("pending", "queued", "running"):
            lines.append(f'chronos_runs{{state="{state}"}} {by_state.get(state, 0)}')
        lines += [
            "# HELP chronos_database_up Whether the last query to PostgreSQL succeeded.",
            "# TYPE chronos_database_up gauge",
            f"chronos_database_up {up}",
        ]
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.text = "\n".join(lines) + "\n"


class OpenAPI(Resource):
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = openapi_json(self.settings.max_body_bytes)
