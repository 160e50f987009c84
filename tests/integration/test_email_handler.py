"""The ``email`` handler against a real (local) SMTP server that offers no STARTTLS:
the sender is the operator's, STARTTLS is required unless the URL opts out, and a
worker's recipients and rate are bounded (H6, M10)."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from shared.clock import FixedClock
from shared.run_context import JobFailed, RunContext
from shared.settings import Settings
from tests.e2e.smtp_sink import SmtpSink
from tests.integration.dispatch_helpers import worker_module

email_handler = worker_module("handlers.email")
OwnerAllowance = worker_module("allowance").OwnerAllowance


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_handler, "RATE", email_handler.SendRate())


def context(settings: Settings) -> RunContext:
    return RunContext(
        run_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        attempt=1,
        deadline=datetime.now(UTC),
        logger=logging.getLogger("test"),
        settings=settings,
    )


def payload(**fields: Any) -> dict[str, Any]:
    return {"to": ["ops@example.test"], "subject": f"s {uuid.uuid4().hex}", "body": "b", **fields}


@pytest.mark.parametrize("credentials", ["", "user:secret@"])
def test_without_starttls_on_the_server_a_smtp_url_fails_before_sending(
    sink: SmtpSink, credentials: str
) -> None:
    """M10: smtp:// requires STARTTLS; a stripped offer fails the run, nothing is sent.
    Without credentials too: the sink offers no AUTH, so with them a client that went on
    in clear would fail on its login, not send; without them it would send the message."""
    settings = Settings(smtp_url=f"smtp://{credentials}127.0.0.1:{sink.port}")
    with pytest.raises(JobFailed, match="STARTTLS"):
        email_handler.send(payload(), context(settings))
    assert sink.messages == []


def test_the_sender_is_the_operators(sink: SmtpSink) -> None:
    """H6: From is CHRONOS_SMTP_FROM whatever the payload holds."""
    settings = Settings(smtp_url=sink.url, smtp_from="jobs@operator.example")
    sent = payload(**{"from": "ceo@operator.example"})
    email_handler.send(sent, context(settings))
    [received] = [m for m in sink.messages if m.subject == sent["subject"]]
    assert received.message["From"] == "jobs@operator.example"
    assert "jobs@operator.example" in received.mail_from


def test_recipients_and_rate_are_bounded_per_worker(sink: SmtpSink) -> None:
    """H6: CHRONOS_EMAIL_MAX_RECIPIENTS and CHRONOS_EMAIL_PER_MINUTE."""
    settings = Settings(smtp_url=sink.url, email_max_recipients=2, email_per_minute=2)
    many = payload(to=["a@x.test", "b@x.test", "c@x.test"])
    with pytest.raises(JobFailed, match="CHRONOS_EMAIL_MAX_RECIPIENTS"):
        email_handler.send(many, context(settings))
    email_handler.send(payload(), context(settings))
    email_handler.send(payload(), context(settings))
    with pytest.raises(JobFailed, match="CHRONOS_EMAIL_PER_MINUTE"):
        email_handler.send(payload(), context(dataclasses.replace(settings)))
    assert len(sink.messages) == 2


def test_the_send_rate_window_slides() -> None:
    now = [0.0]
    rate = email_handler.SendRate(monotonic=lambda: now[0])
    assert rate.take(1)
    assert not rate.take(1)
    now[0] = 60.5
    assert rate.take(1)


def test_each_users_emails_are_bounded_per_hour_across_workers(
    sink: SmtpSink, engine: Engine
) -> None:
    """H6: CHRONOS_EMAIL_PER_USER_PER_HOUR, counted in the database, so the bound holds
    across worker processes (two allowances here, as two workers would hold) and one
    user's spending leaves another's allowance whole."""
    settings = Settings(smtp_url=sink.url, email_per_user_per_hour=2)
    clock = FixedClock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    alice, bob = uuid.uuid4(), uuid.uuid4()

    def on_worker(owner: uuid.UUID) -> RunContext:
        ctx = context(settings)
        ctx.allowance = OwnerAllowance(lambda: engine, clock, owner)
        return ctx

    email_handler.send(payload(), on_worker(alice))
    email_handler.send(payload(), on_worker(alice))  # on another worker: the same count
    with pytest.raises(JobFailed, match="CHRONOS_EMAIL_PER_USER_PER_HOUR"):
        email_handler.send(payload(), on_worker(alice))
    email_handler.send(payload(), on_worker(bob))
    assert len(sink.messages) == 3
    clock.advance(3600)
    email_handler.send(payload(), on_worker(alice))  # a new hour
    assert len(sink.messages) == 4
