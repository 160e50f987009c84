"""Domain errors become HTTP responses here, and only here."""

from __future__ import annotations

import logging
from typing import Any

import falcon

from shared import errors

log = logging.getLogger("chronos.api")

STATUS_OF: dict[type[errors.ChronosError], str] = {
    errors.ValidationError: falcon.HTTP_400,
    errors.Unauthorized: falcon.HTTP_401,
    errors.Forbidden: falcon.HTTP_403,
    errors.NotFound: falcon.HTTP_404,
    errors.Conflict: falcon.HTTP_409,
    errors.TooManyRequests: falcon.HTTP_429,
}


def status_of(error: errors.ChronosError) -> str:
    return next(
        (code for kind, code in STATUS_OF.items() if isinstance(error, kind)), falcon.HTTP_400
    )


def handle_domain_error(
    req: falcon.Request, resp: falcon.Response, error: errors.ChronosError, params: Any
) -> None:
    resp.status = status_of(error)
    resp.media = {"title": error.title, "description": error.description}
    if isinstance(error, errors.Unauthorized):
        resp.set_header("WWW-Authenticate", "Bearer")
    retry_after(resp, error)


def retry_after(resp: falcon.Response, error: errors.ChronosError) -> None:
    """A throttled request is told when to try again."""
    if isinstance(error, errors.TooManyRequests) and error.retry_after is not None:
        resp.set_header("Retry-After", str(error.retry_after))


def handle_http_error(
    req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError, params: Any
) -> None:
    """Falcon's own errors (404 for an unknown route or malformed UUID, 405, ...), in
    our error shape."""
    resp.status = error.status
    description = error.description
    if description is None and error.status_code == 404:
        description = "path: no such resource (IDs in paths are UUIDs)"
    if description is None and error.status_code == 405:
        description = f"method: {req.method} is not allowed on {req.path}"
    resp.media = {"title": error.title or "Error", "description": description or error.title}
    headers = error.headers or {}
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    for name, value in pairs:
        resp.set_header(name, value)


def handle_database_down(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: Any
) -> None:
    """PostgreSQL unreachable (restarting, failing over): 503, and the client retries."""
    log.warning("database unavailable on %s %s: %s", req.method, req.path, type(error).__name__)
    resp.status = falcon.HTTP_503
    resp.media = {"title": "Service unavailable", "description": "database: unavailable; retry"}
    resp.set_header("Retry-After", "1")


def handle_database_busy(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: Any
) -> None:
    """Every pooled connection taken, and none freed within the pool's timeout: 503."""
    log.warning("database pool exhausted on %s %s", req.method, req.path)
    resp.status = falcon.HTTP_503
    resp.media = {"title": "Service unavailable", "description": "database: busy; retry"}
    resp.set_header("Retry-After", "1")


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: Any
) -> None:
    if isinstance(error, falcon.HTTPError):
        handle_http_error(req, resp, error, params)
        return
    log.exception("unhandled error on %s %s", req.method, req.path)
    resp.status = falcon.HTTP_500
    # The resource may have set another type (an HTML page) before it failed.
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"title": "Internal error", "description": "an unexpected error; it was logged"}
