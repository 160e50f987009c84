"""``http``: one request; a 2xx answer succeeds.

Built on ``http.client`` so that the heartbeat thread can abort a request in flight:
cancelling or timing out a run shuts the socket down, and the blocked read returns at
once. Redirects are not followed (a 3xx is not a success): a scheduled call should reach
the endpoint it names.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

from shared.jobtypes import JobFailed, Payload, RunContext

MAX_BODY = 64 * 1024
USER_AGENT = "chronos-scheduler/1.0"


def call(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    url = urlsplit(payload["url"])
    timeout = float(payload.get("timeout_seconds", 30))
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(url.hostname or "", url.port, timeout=timeout)

    def abort() -> None:
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    ctx.on_interrupt(abort)
    headers = {"User-Agent": USER_AGENT, **payload.get("headers", {})}
    body: bytes | None = None
    if "json" in payload:
        body = json.dumps(payload["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "body" in payload:
        body = str(payload["body"]).encode()
    headers["X-Chronos-Run-Id"] = str(ctx.run_id)
    headers["X-Chronos-Attempt"] = str(ctx.attempt)
    path = url.path or "/"
    if url.query:
        path = f"{path}?{url.query}"
    try:
        connection.request(payload.get("method", "POST"), path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(MAX_BODY + 1)
    finally:
        connection.close()
    text = raw[:MAX_BODY].decode("utf-8", errors="replace")
    result = {"status_code": response.status, "body": text}
    if len(raw) > MAX_BODY:
        result["truncated"] = True
    if not 200 <= response.status < 300:
        raise JobFailed("http_status", f"HTTP {response.status} {response.reason}", result)
    return result
