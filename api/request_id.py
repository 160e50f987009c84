"""``X-Request-Id`` on every response, and on every log line of the request.

A client (or a proxy in front) that sends an id can find its request in our logs; one
that does not gets a fresh one back to quote. A client's id is echoed only when it is
short and made of safe characters: anything else (a newline, a space, a megabyte) could
forge log lines or headers downstream, so it is replaced, never repeated.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import falcon

from shared.logs import pop_context, push_context

HEADER = "X-Request-Id"
MAX_LENGTH = 128
SANE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")


def sane_request_id(candidate: str | None) -> str | None:
    """The client's id if it is safe to echo and log, else None."""
    if candidate is not None and SANE.fullmatch(candidate):
        return candidate
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestId:
    """Falcon middleware, first in the list: its ``process_response`` runs last, after
    the error handlers and the other middleware, so every response gets the header
    and every line logged meanwhile names the request."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = sane_request_id(req.get_header(HEADER)) or new_request_id()
        req.context.request_id = request_id
        req.context.log_token = push_context(request_id=request_id)
        resp.set_header(HEADER, request_id)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        # Set again: an error handler may have replaced the response's headers.
        resp.set_header(HEADER, req.context.get("request_id") or new_request_id())
        token = req.context.get("log_token")
        if token is not None:
            req.context.log_token = None
            pop_context(token)
