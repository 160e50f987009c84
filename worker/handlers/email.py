"""``email``: sent through the SMTP server at CHRONOS_SMTP_URL.

- ``smtp://[user:password@]host[:port]``: STARTTLS is required; a server that does not
  offer it fails the run before any credential is sent (an attacker on the path who
  strips it from the EHLO reply learns nothing).
- ``smtp://...?starttls=false``: no TLS at all, for a relay on a trusted local network.
- ``smtps://...``: TLS from the start (implicit TLS, port 465).

``From`` is always CHRONOS_SMTP_FROM, the operator's address: a job names recipients,
never a sender. Each worker process sends at most CHRONOS_EMAIL_PER_MINUTE messages a
minute, each user's jobs at most CHRONOS_EMAIL_PER_USER_PER_HOUR an hour across every
worker (worker.allowance), and a message has at most CHRONOS_EMAIL_MAX_RECIPIENTS
recipients; a run past any of them fails (and is retried if it has attempts left).
Success means the server accepted the message.
"""

from __future__ import annotations

import collections
import smtplib
import ssl
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from shared.jobtypes import JobFailed, Payload, RunContext

DEFAULT_SENDER = "chronos@localhost"
WINDOW_SECONDS = 60.0
# Each user's allowance (CHRONOS_EMAIL_PER_USER_PER_HOUR) is counted over an hour.
HOUR = timedelta(hours=1)


class SendRate:
    """Messages sent in the last minute by this process, across its threads."""

    def __init__(self, monotonic: Any = time.monotonic) -> None:
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def take(self, limit: int) -> bool:
        """Count one message, unless ``limit`` were sent in the last minute."""
        with self._lock:
            now = self._monotonic()
            while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
                self._sent.popleft()
            if len(self._sent) >= limit:
                return False
            self._sent.append(now)
            return True


RATE = SendRate()


def starttls_required(query: str) -> bool:
    values = parse_qs(query).get("starttls", ["true"])
    return values[-1].strip().lower() not in {"false", "0", "no", "off"}


def send(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    settings = ctx.settings
    smtp_url = getattr(settings, "smtp_url", None)
    if not smtp_url:
        raise JobFailed("exception", "CHRONOS_SMTP_URL is not set on this worker")
    url = urlsplit(smtp_url)
    if url.scheme not in {"smtp", "smtps"}:
        raise JobFailed("exception", "CHRONOS_SMTP_URL must start with smtp:// or smtps://")
    recipients = list(payload["to"])
    most = int(getattr(settings, "email_max_recipients", 50))
    if len(recipients) > most:
        raise JobFailed(
            "exception",
            f"{len(recipients)} recipients; at most {most} (CHRONOS_EMAIL_MAX_RECIPIENTS)",
        )
    if not RATE.take(int(getattr(settings, "email_per_minute", 60))):
        raise JobFailed(
            "exception", "this worker's email rate limit is reached (CHRONOS_EMAIL_PER_MINUTE)"
        )
    per_hour = int(getattr(settings, "email_per_user_per_hour", 200))
    if ctx.allowance is not None and not ctx.allowance("email", per_hour, HOUR):
        raise JobFailed(
            "exception",
            f"the job's owner has sent {per_hour} emails this hour, the most each user may "
            "(CHRONOS_EMAIL_PER_USER_PER_HOUR)",
        )
    # The run's own timeout is enforced by the heartbeat (it closes the connection); this
    # one only bounds a single SMTP exchange.
    timeout = 30.0
    message = EmailMessage()
    message["From"] = getattr(settings, "smtp_from", DEFAULT_SENDER)
    message["To"] = ", ".join(recipients)
    message["Subject"] = payload["subject"]
    message.set_content(payload.get("body", ""))
    host = url.hostname or "localhost"
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, url.port or 465, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, url.port or 25, timeout=timeout)
    ctx.on_interrupt(client.close)
    with client:
        client.ehlo()
        if url.scheme == "smtp" and starttls_required(url.query):
            if not client.has_extn("starttls"):
                raise JobFailed(
                    "exception",
                    "the SMTP server does not offer STARTTLS, which CHRONOS_SMTP_URL requires "
                    "(use smtps://, or add ?starttls=false for a trusted local relay)",
                )
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        refused = client.send_message(message)
    if refused:
        raise JobFailed("exception", f"the server refused {len(refused)} recipients")
    return {"accepted": [address for address in recipients if address not in refused]}
