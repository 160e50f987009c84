"""``http``: one request; a 2xx answer succeeds.

Built on ``http.client`` so that the heartbeat thread can abort a request in flight:
cancelling or timing out a run shuts the socket down, and the blocked read returns at
once. Redirects are not followed (a 3xx is not a success): a scheduled call should reach
the endpoint it names.

The host name is resolved once, every address is checked against the network policy
(:mod:`shared.netpolicy`), and the connection goes to the checked address: a name that
resolves differently a moment later (DNS rebinding) cannot slip past the check.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from shared.jobtypes import JobFailed, Payload, RunContext
from shared.netpolicy import NetworkPolicy, NetworkPolicyError

MAX_BODY = 64 * 1024
USER_AGENT = "chronos-scheduler/1.0"


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked in advance, while Host names the URL's host."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class PinnedHTTPSConnection(PinnedHTTPConnection):
    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def checked_address(host: str, port: int, policy: NetworkPolicy) -> str:
    """The address to connect to, after every address the name resolves to was checked.

    A name that does not resolve and one that resolves to a refused address get the same
    message, which names neither the address nor the resolver's answer: either would tell
    a user which internal names exist and where they point."""
    refused = f"destination not allowed: {host[:255]!r} is not an address this server may call"
    try:
        policy.check_port(port)  # before any DNS query
    except NetworkPolicyError as error:
        raise JobFailed("exception", str(error)) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise JobFailed("exception", refused) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        try:
            policy.check(address.split("%", 1)[0], port)
        except (NetworkPolicyError, ValueError):
            raise JobFailed("exception", refused) from None
    return addresses[0]


def call(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    url = urlsplit(payload["url"])
    timeout = float(payload.get("timeout_seconds", 30))
    host = url.hostname or ""
    https = url.scheme == "https"
    port = url.port or (http.client.HTTPS_PORT if https else http.client.HTTP_PORT)
    address = checked_address(host, port, ctx.settings.network_policy)
    connection_class = PinnedHTTPSConnection if https else PinnedHTTPConnection
    connection = connection_class(host, port, address, timeout)

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
        try:
            connection.request(payload.get("method", "POST"), path, body=body, headers=headers)
        except (ValueError, UnicodeError):
            # http.client's message quotes the header value, which may be a secret (a
            # job stored before headers were checked at submit).
            raise JobFailed("exception", "a request header is not valid HTTP") from None
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
