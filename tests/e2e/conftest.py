"""End-to-end fixtures: the real api, scheduler and worker processes (as the Procfile
starts them), a local HTTP target, an SMTP sink and HTTP clients.

The stack is started once for this package and stopped when its last test is done, so
it never runs alongside other suites. Every test makes its own user, so tests do not see
each other's jobs, and each test's jobs are cancelled when it ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import UNLIMITED_USERS, sibling_database
from tests.e2e.client import Client
from tests.e2e.smtp_sink import SmtpSink
from tests.e2e.stack import ACTIVE, VENV_BIN, Stack, free_port, running_stack
from tests.e2e.target import Target

JWT_SECRET = "e2e-secret-" + "k" * 40


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.failed:
        for stack in ACTIVE:
            report.sections.append(("chronos process logs (tail)", stack.log_tails()))
    return report


@pytest.fixture(scope="package")
def e2e_database_url(database_url: str) -> Iterator[str]:
    """A database of the e2e suite's own, named after this run's.

    The real scheduler dispatches every due run it finds and the worker executes it, so
    sharing ``database_url`` would let them run other suites' leftover jobs (blocking
    worker threads) and change rows that integration tests are asserting on."""
    with sibling_database(database_url, "e2e") as rendered:
        yield rendered


@pytest.fixture(scope="package")
def target() -> Iterator[Target]:
    server = Target().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="package")
def stack_env(e2e_database_url: str, queue_prefix: str, smtp_sink: SmtpSink) -> dict[str, str]:
    # Nothing from the caller's CHRONOS_* environment leaks in: the test decides.
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHRONOS_")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "PYTHONUNBUFFERED": "1",
            "CHRONOS_DATABASE_URL": e2e_database_url,
            "CHRONOS_QUEUE_PREFIX": queue_prefix,
            # The API accepts both; each worker declares and consumes its own.
            "CHRONOS_QUEUES": "default,other",
            "CHRONOS_API_BIND": f"127.0.0.1:{free_port()}",
            "CHRONOS_JWT_SECRET": JWT_SECRET,
            "CHRONOS_ENABLE_SHELL_JOBS": "true",
            "CHRONOS_HEARTBEAT_SECONDS": "1",
            "CHRONOS_LEASE_SECONDS": "4",
            "CHRONOS_POLL_INTERVAL_SECONDS": "1",
            "CHRONOS_WORKER_PROCESSES": "1",
            "CHRONOS_WORKER_THREADS": "4",
            "CHRONOS_API_WORKERS": "2",
            "CHRONOS_SMTP_URL": smtp_sink.url,
            # Every test client signs up from 127.0.0.1; the throttle has its own tests.
            "CHRONOS_SIGNUPS_PER_MINUTE": "100000",
            **UNLIMITED_USERS,
        }
    )
    return env


@pytest.fixture(scope="package")
def stack(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(stack_env, tmp_path_factory.mktemp("chronos-e2e-logs")) as running:
        yield running


@pytest.fixture
def stack_ready(stack: Stack) -> Stack:
    """The stack, with its scheduler and default worker running (a test that kills one
    restarts it, but may have failed before it could)."""
    stack.check_alive()
    if "scheduler" not in stack.processes:
        stack.spawn("scheduler", "scheduler")
    if "worker" not in stack.processes:
        stack.start_worker()
    return stack


@pytest.fixture
def api(stack_ready: Stack) -> Iterator[Client]:
    """A client logged in as a fresh user; its jobs are cancelled after the test."""
    client = Client(stack_ready.url).as_new_user()
    yield client
    client.cancel_submitted()


@pytest.fixture(scope="package")
def admin_token(stack: Stack) -> str:
    return stack.admin_token()


@pytest.fixture
def admin_api(stack_ready: Stack, admin_token: str) -> Iterator[Client]:
    client = Client(stack_ready.url, admin_token)
    yield client
    client.cancel_submitted()
