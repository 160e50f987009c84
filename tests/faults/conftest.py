"""Fault-test fixtures: the real processes (the e2e harness's :class:`Stack`), a database
of this package's own, an HTTP target that records which run called it, and helpers to
submit many jobs, wait for them to settle and check the invariants.

The stack is started once for the package. Each test gets it back with one scheduler
and one worker running; whatever extra processes a test started are stopped after it,
and a scheduler or worker it killed is started again.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from shared.db import make_engine
from shared.repository.dispatch import PUBLISHED_AT
from tests.conftest import UNLIMITED_USERS, sibling_database
from tests.e2e.client import Client, rfc3339
from tests.e2e.stack import ACTIVE, VENV_BIN, Process, Stack, free_port, running_stack
from tests.e2e.target import Target
from tests.e2e.waiting import Unmet, wait_for
from tests.faults.invariants import Report, assert_invariants, unsettled

JWT_SECRET = "faults-secret-" + "f" * 40
BASE_PROCESSES = ("api", "scheduler", "worker")
BATCH = 1000
RABBIT_PORT = 5672
PG_PORT = 5432
RUN_ID_HEADER = "x-chronos-run-id"
DROPPED = re.compile(r"run \S+ is not queued \(a duplicate, or cancelled\); dropped")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.failed:
        for stack in ACTIVE:
            report.sections.append(("chronos process logs (tail)", stack.log_tails(80)))
    return report


@pytest.fixture(scope="package")
def faults_database_url(database_url: str) -> Iterator[str]:
    """This package's own database: the schedulers and workers it starts must not run
    other suites' leftover jobs, and its invariants are checked over its own rows."""
    with sibling_database(database_url, "faults") as rendered:
        yield rendered


@pytest.fixture(scope="package")
def faults_engine(faults_database_url: str) -> Iterator[Engine]:
    engine = make_engine(faults_database_url, pool_size=4, application_name="chronos-faults")
    yield engine
    engine.dispose()


@pytest.fixture(scope="package")
def target() -> Iterator[Target]:
    server = Target().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def faults_env(faults_database_url: str, queue_prefix: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHRONOS_")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "PYTHONUNBUFFERED": "1",
            "CHRONOS_DATABASE_URL": faults_database_url,
            "CHRONOS_QUEUE_PREFIX": f"{queue_prefix}faults.",
            "CHRONOS_API_BIND": f"127.0.0.1:{free_port()}",
            "CHRONOS_JWT_SECRET": JWT_SECRET,
            "CHRONOS_HEARTBEAT_SECONDS": "1",
            "CHRONOS_LEASE_SECONDS": "4",
            "CHRONOS_POLL_INTERVAL_SECONDS": "1",
            "CHRONOS_WORKER_PROCESSES": "2",
            "CHRONOS_WORKER_THREADS": "8",
            "CHRONOS_API_WORKERS": "2",
            "CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
            "CHRONOS_SIGNUPS_PER_MINUTE": "100000",
            # "limited" and "paused" are for the queue-control fault tests; the base
            # worker consumes only "default".
            "CHRONOS_QUEUES": "default,limited,paused",
            # Misbehaving job types, for the poison-job tests.
            "CHRONOS_JOB_MODULES": "tests.faults.poison_jobs",
            **UNLIMITED_USERS,
        }
    )
    return env


@pytest.fixture(scope="package")
def stack(faults_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(faults_env, tmp_path_factory.mktemp("chronos-faults-logs")) as running:
        yield running


class Faults:
    """One test's view of the stack: its own user, its jobs, and the checks."""

    def __init__(self, stack: Stack, engine: Engine, target: Target) -> None:
        self.stack = stack
        self.engine = engine
        self.target = target
        _, token = Client(stack.url).create_user("faults")
        self.api = Client(stack.url, token, timeout=60)
        self.job_ids: list[str] = []
        self.log_marks = {id(process): _size(process.log_path) for process in stack.history}

    # Submitting ----------------------------------------------------------------------

    def submit_batch(self, specs: Sequence[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(specs), BATCH):
            chunk = list(specs[start : start + BATCH])
            body = self.api.expect("POST", "/jobs/batch", 201, {"jobs": chunk})
            ids.extend(job["id"] for job in body["items"])
        self.job_ids.extend(ids)
        return ids

    def http_spec(self, path: str, run_at: float | None = None, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "type": "http",
            "payload": {"url": self.target.url(path), "method": "POST", "timeout_seconds": 10},
            **extra,
        }
        if run_at is not None:
            spec["schedule"] = {"run_at": rfc3339(run_at)}
        return spec

    @staticmethod
    def spec(job_type: str, run_at: float | None = None, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": job_type, **extra}
        if run_at is not None:
            spec["schedule"] = {"run_at": rfc3339(run_at)}
        return spec

    # Observing -----------------------------------------------------------------------

    def run_states(self, job_ids: Sequence[str] | None = None) -> Counter[str]:
        ids = [uuid.UUID(job_id) for job_id in (job_ids or self.job_ids)]
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT state, count(*) AS n FROM runs WHERE job_id = ANY(:ids) GROUP BY state"
                ),
                {"ids": ids},
            )
            return Counter({row.state: int(row.n) for row in rows})

    def runs(self, job_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        ids = [uuid.UUID(job_id) for job_id in (job_ids or self.job_ids)]
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT r.*, {PUBLISHED_AT} AS confirmed_at, j.type "  # noqa: S608
                    "FROM runs AS r JOIN jobs AS j ON j.id = r.job_id "
                    "WHERE r.job_id = ANY(:ids)"
                ),
                {"ids": ids},
            ).mappings()
            # published_at: when the publish was confirmed (while the run is queued, the
            # time of its batch's receipt).
            return [{**row, "published_at": row["confirmed_at"]} for row in rows]

    def settled(self, job_ids: Sequence[str] | None = None) -> bool | Unmet:
        """No run of these jobs is queued or running, none pending is due, and every job
        has reached a final status."""
        ids = [uuid.UUID(job_id) for job_id in (job_ids or self.job_ids)]
        live, unfinished = unsettled(self.engine, ids)
        if live == 0 and unfinished == 0:
            return True
        return Unmet({"live_runs": live, "unfinished_jobs": unfinished, **self.run_states(job_ids)})

    def wait_settled(self, timeout: float, job_ids: Sequence[str] | None = None) -> float:
        began = time.monotonic()

        def check() -> bool | Unmet:
            self.stack.check_alive()
            return self.settled(job_ids)

        wait_for(check, timeout, interval=0.25, message="the system to settle")
        return time.monotonic() - began

    def check(self, job_ids: Sequence[str] | None = None) -> Report:
        report = assert_invariants(self.engine, job_ids or self.job_ids)
        print(report.summary())
        return report

    def calls_by_run(self, path: str) -> Counter[str]:
        """How many times each run id called ``path`` on the target."""
        counts: Counter[str] = Counter()
        for call in self.target.calls(path):
            headers = {name.lower(): value for name, value in call.headers.items()}
            counts[headers.get(RUN_ID_HEADER, "<none>")] += 1
        return counts

    def assert_http_once(self, path: str, job_ids: Sequence[str]) -> int:
        """Each run called the target at most once, and each started http run did call."""
        calls = self.calls_by_run(path)
        repeated = {run_id: n for run_id, n in calls.items() if n > 1}
        assert not repeated, f"runs that called the target more than once: {repeated}"
        started = {
            str(run["id"])
            for run in self.runs(job_ids)
            if run["type"] == "http" and run["state"] == "succeeded"
        }
        missing = started - set(calls)
        assert not missing, f"{len(missing)} succeeded http runs never called the target"
        unknown = set(calls) - {str(run["id"]) for run in self.runs(job_ids)}
        assert not unknown, f"calls from runs that are not these jobs' runs: {unknown}"
        return sum(calls.values())

    def dropped_duplicates(self) -> int:
        """Messages that workers dropped since this test began: the run was not queued
        any more (a duplicate delivery, which the guarded start turned away)."""
        total = 0
        for process in self.stack.history:
            if process.name.startswith("worker"):
                text_ = _read_from(process.log_path, self.log_marks.get(id(process), 0))
                total += len(DROPPED.findall(text_))
        return total

    def count_in_logs(self, name_prefix: str, *needles: str) -> int:
        """Lines, since the test began, of the logs of processes named ``name_prefix*``
        that contain any of ``needles``."""
        total = 0
        for process in self.stack.history:
            if process.name.startswith(name_prefix):
                text_ = _read_from(process.log_path, self.log_marks.get(id(process), 0))
                total += sum(
                    1 for line in text_.splitlines() if any(needle in line for needle in needles)
                )
        return total

    def log_lines(self, process: Process, needle: str, *, whole: bool = False) -> list[str]:
        """Lines of the process's log containing ``needle``, written since the test began
        (or ever, with ``whole``)."""
        offset = 0 if whole else self.log_marks.get(id(process), 0)
        text_ = _read_from(process.log_path, offset)
        return [line for line in text_.splitlines() if needle in line]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def ensure_base(stack: Stack) -> None:
    """One scheduler and one (default) worker, alive."""
    for name in ("scheduler", "worker"):
        process = stack.processes.get(name)
        if process is not None and not process.alive():
            stack.processes.pop(name).stop()
    if "scheduler" not in stack.processes:
        stack.spawn("scheduler", "scheduler")
    if "worker" not in stack.processes:
        stack.start_worker()
    stack.check_alive()


@pytest.fixture
def chronos(stack: Stack, faults_engine: Engine, target: Target) -> Iterator[Faults]:
    ensure_base(stack)
    faults = Faults(stack, faults_engine, target)
    yield faults
    for name in [name for name in stack.processes if name not in BASE_PROCESSES]:
        stack.stop_process(name)
    ensure_base(stack)


# Service outages --------------------------------------------------------------------


def rabbitmq_accepts(url: str = "amqp://guest:guest@127.0.0.1:5672/%2F") -> bool:
    import pika

    if not port_open(RABBIT_PORT):
        return False
    try:
        parameters = pika.URLParameters(url)
        parameters.socket_timeout = 3
        connection = pika.BlockingConnection(parameters)
    except Exception:
        return False
    connection.close()
    return True


def rabbitmqctl(command: str) -> None:
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def rabbitmq_stopped() -> Iterator[None]:
    """``rabbitmqctl stop_app`` for the body; ``start_app`` always, then wait for AMQP."""
    try:
        rabbitmqctl("stop_app")
        yield
    finally:
        rabbitmqctl("start_app")
        wait_for(rabbitmq_accepts, 90, interval=0.2, message="RabbitMQ to accept connections")


def postgres_accepts(url: str) -> bool:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT 1")) == 1
    except Exception:
        return False
    finally:
        engine.dispose()


def restart_postgres(url: str) -> float:
    """Restart the cluster; returns how long it took until it accepted connections."""
    began = time.monotonic()
    versions = sorted(os.listdir("/etc/postgresql"))
    try:
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                versions[-1],
                "main",
                "restart",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        wait_for(lambda: postgres_accepts(url), 120, interval=0.2, message="PostgreSQL to accept")
    return time.monotonic() - began


def ensure_postgres_running(url: str) -> None:
    if postgres_accepts(url):
        return
    versions = sorted(os.listdir("/etc/postgresql"))
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=False,
        capture_output=True,
        timeout=120,
    )
    wait_for(lambda: postgres_accepts(url), 120, interval=0.2, message="PostgreSQL to accept")


def db_now(engine: Engine) -> datetime:
    with engine.connect() as conn:
        now: datetime = conn.scalar(text("SELECT now()"))
        return now


def queue_depth(stack: Stack, queue: str) -> int | None:
    """Messages ready in one of the stack's queues (a passive declare), None if unknown."""
    import pika

    url = stack.env.get("CHRONOS_BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672/%2F"
    name = f"{stack.env['CHRONOS_QUEUE_PREFIX']}{queue}"
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except Exception:
        return None
    try:
        declared = connection.channel().queue_declare(queue=name, passive=True)
        depth: int = declared.method.message_count
        return depth
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            connection.close()
