"""A TCP proxy the test controls, between one process and RabbitMQ: it forwards, refuses
(every connection is closed at once, as a stopped broker's port would be), or blackholes
(connections are accepted and bytes taken, but nothing goes through, as with packets
dropped by a firewall). RabbitMQ itself is never stopped, so other suites sharing it are
not disturbed."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

Mode = Literal["forward", "refuse", "blackhole"]


class TcpProxy:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.mode: Mode = "forward"
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "forward":
            self._forwarding.set()
            return
        self._forwarding.clear()
        if mode == "refuse":
            self._drop_all()

    def close(self) -> None:
        self._closed = True
        self._forwarding.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                client.close()
                continue
            with self._lock:
                self._sockets.append(client)
            if self.mode == "blackhole":
                continue  # held open, never answered
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.append(server)
            for source, target in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, target), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self._forwarding.wait()  # blackholed: the bytes are held, not sent
                if self.mode == "refuse":
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
