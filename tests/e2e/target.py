"""A local HTTP endpoint for ``http`` jobs: it records when each call arrived, per path,
and can be told to answer a given status or to hang."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    arrived_at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    # For a hanging path: when the client dropped the connection, if it did.
    disconnected_at: float | None = None


@dataclass
class _Rule:
    status: int = 200
    hang_seconds: float = 0.0


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[str, list[Call]] = field(default_factory=dict)
    rules: dict[str, _Rule] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        state = self.server.state
        call = Call(arrived, self.command, path, dict(self.headers.items()), body)
        with state.lock:
            state.calls.setdefault(path, []).append(call)
            rule = state.rules.get(path, _Rule())
        if rule.hang_seconds and self._hang(rule.hang_seconds, state.release):
            call.disconnected_at = time.time()
            self.close_connection = True
            return
        reply = b'{"ok": true}'
        try:
            self.send_response(rule.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply)
        except OSError:
            pass  # the client gave up (a cancelled run aborts its request)
        self.close_connection = True

    def _hang(self, seconds: float, release: threading.Event) -> bool:
        """Hold the request; True if the client hung up meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not release.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
        return False

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # aborted connections are expected; calls are what the tests check


class Target:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> Target:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.state.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @staticmethod
    def new_path(prefix: str = "call") -> str:
        return f"/{prefix}/{uuid.uuid4().hex}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, path: str, status: int) -> None:
        with self._server.state.lock:
            self._server.state.rules.setdefault(path, _Rule()).status = status

    def hang(self, path: str, seconds: float) -> None:
        with self._server.state.lock:
            self._server.state.rules.setdefault(path, _Rule()).hang_seconds = seconds

    def calls(self, path: str) -> list[Call]:
        with self._server.state.lock:
            return list(self._server.state.calls.get(path, []))

    def arrivals(self, path: str) -> list[float]:
        return [call.arrived_at for call in self.calls(path)]
