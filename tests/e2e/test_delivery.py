"""Email delivery, RabbitMQ queue declarations, and a worker on a second queue."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pytest

from tests.e2e.client import Client
from tests.e2e.flow import wait_runs, wait_status
from tests.e2e.smtp_sink import SmtpSink
from tests.e2e.stack import Stack

pytestmark = pytest.mark.timeout(120)


def test_email_job_reaches_the_smtp_server(api: Client, smtp_sink: SmtpSink) -> None:
    subject = f"e2e report {uuid.uuid4().hex}"
    job = api.submit(
        type="email",
        payload={"to": ["ops@example.test"], "subject": subject, "body": "all green\n.\n"},
    )
    wait_status(api, job["id"], "succeeded", timeout=15)
    received = [message for message in smtp_sink.messages if message.subject == subject]
    assert len(received) == 1
    message = received[0]
    assert any("ops@example.test" in rcpt for rcpt in message.rcpt_to)
    assert "all green" in message.message.get_content()


def list_queues() -> dict[str, bool]:
    completed = subprocess.run(
        ["rabbitmqctl", "list_queues", "name", "durable", "--formatter", "json"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return {entry["name"]: entry["durable"] for entry in json.loads(completed.stdout)}


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl is not on PATH")
def test_queues_are_durable(stack_ready: Stack, queue_prefix: str) -> None:
    queues = list_queues()
    name = f"{queue_prefix}default"
    assert queues.get(name) is True, {k: v for k, v in queues.items() if k.startswith(queue_prefix)}
    assert f"{name}.DQ" in queues
    assert f"{name}.XQ" in queues


def test_second_queue_with_its_own_worker(stack_ready: Stack, api: Client) -> None:
    """A job on queue "other" waits for a worker of that queue, then runs there."""
    job = api.submit(type="noop", queue="other")
    assert job["queue"] == "other"
    # Claimed before anyone consumes (or even declared) that queue: the scheduler does
    # not create it, so the run waits unpublished until the queue's worker declares it.
    wait_runs(
        api,
        job["id"],
        lambda runs: runs and runs[0]["state"] == "queued",
        timeout=15,
        message="the run to be queued",
    )
    stack_ready.start_worker(name="worker-other", queues=("other",), wait=False)
    try:
        wait_status(api, job["id"], "succeeded", timeout=30)
        run = api.runs(job["id"])[0]
        assert run["worker"]
        # The default worker does not consume "other", and this one serves only it.
        again = api.submit(type="noop", queue="other")
        wait_status(api, again["id"], "succeeded", timeout=15)
    finally:
        stack_ready.stop_process("worker-other")
