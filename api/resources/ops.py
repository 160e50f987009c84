"""Health, readiness, metrics and the OpenAPI document: no token needed."""

from __future__ import annotations

from typing import Any

import falcon
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.openapi import openapi_json
from api.resources.base import Resource


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


class Metrics(Resource):
    """Prometheus text, from prometheus-client's exposition (see :mod:`api.metrics`)."""

    auth_required = False

    def __init__(self, *args: Any, registry: CollectorRegistry) -> None:
        super().__init__(*args)
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_PLAIN_0_0_4
        resp.data = generate_latest(self.registry)


class OpenAPI(Resource):
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = openapi_json(self.settings.max_body_bytes)
