"""``email``: sent through the SMTP server at CHRONOS_SMTP_URL.

``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it) or
``smtps://...`` (TLS from the start). Success means the server accepted the message.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.jobtypes import JobFailed, Payload, RunContext

DEFAULT_SENDER = "chronos@localhost"


def send(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    smtp_url = getattr(ctx.settings, "smtp_url", None)
    if not smtp_url:
        raise JobFailed("exception", "CHRONOS_SMTP_URL is not set on this worker")
    url = urlsplit(smtp_url)
    if url.scheme not in {"smtp", "smtps"}:
        raise JobFailed("exception", "CHRONOS_SMTP_URL must start with smtp:// or smtps://")
    # The run's own timeout is enforced by the heartbeat (it closes the connection); this
    # one only bounds a single SMTP exchange.
    timeout = 30.0
    message = EmailMessage()
    message["From"] = payload.get("from") or DEFAULT_SENDER
    message["To"] = ", ".join(payload["to"])
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
        if url.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        refused = client.send_message(message)
    if refused:
        raise JobFailed("exception", f"the server refused {len(refused)} recipients")
    return {"accepted": [address for address in payload["to"] if address not in refused]}
