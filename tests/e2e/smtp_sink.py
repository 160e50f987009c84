"""A minimal SMTP server that accepts everything and records the messages.

Just enough of RFC 5321 for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT,
with no extensions advertised (so no STARTTLS and no AUTH).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[Received] = field(default_factory=list)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server
    timeout = 30

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 sink.test ESMTP e2e sink")
        mail_from = ""
        rcpt_to: list[str] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            argument = line[len(verb) :].strip()
            if verb in {"EHLO", "HELO"}:
                mail_from, rcpt_to = "", []
                self.reply("250 sink.test")
            elif verb == "MAIL":
                mail_from, rcpt_to = argument, []
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(argument)
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self._read_data()
                if data is None:
                    return
                with self.server.state.lock:
                    self.server.state.messages.append(Received(mail_from, rcpt_to, data))
                mail_from, rcpt_to = "", []
                self.reply("250 OK: queued")
            elif verb == "RSET":
                mail_from, rcpt_to = "", []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def _read_data(self) -> bytes | None:
        lines: list[bytes] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return None
            if raw.rstrip(b"\r\n") == b".":
                return b"".join(lines)
            if raw.startswith(b".."):
                raw = raw[1:]  # dot-unstuffing
            lines.append(raw)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: _State


class SmtpSink:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=false"

    def start(self) -> SmtpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def messages(self) -> list[Received]:
        with self._server.state.lock:
            return list(self._server.state.messages)
