"""Starting the real Chronos processes, with the Procfile's commands and flags given
directly: ``python -m scheduler``, ``dramatiq worker --processes 2 --threads 8`` and
``gunicorn 'api.app:create_app()'``."""

from __future__ import annotations

import socket
import tempfile
import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families

from bench import workload
from bench.context import BenchContext
from bench.procs import Child, spawn, stop_together, venv_tool, wait_for
from shared.repository.dispatch import CONFIRMED

WORKER_PROCESSES = 2
WORKER_THREADS = 8
# Dramatiq logs this once per worker process when it starts consuming.
DRAMATIQ_READY = "is ready for action"


def python() -> str:
    return venv_tool("python")


def start_scheduler(
    ctx: BenchContext,
    name: str = "scheduler",
    *,
    backlog: int | None = None,
    **settings: str,
) -> Child:
    """``backlog``: its CHRONOS_QUEUE_BACKLOG, if not the run's (``--backlog``);
    ``settings``: other CHRONOS_* variables of its own (its metrics port among them)."""
    # Its own metrics port, on loopback: another scheduler (or another engineer's bench
    # run) may hold 9192.
    env = ctx.child_env(
        CHRONOS_SCHEDULER_METRICS_HOST="127.0.0.1",
        CHRONOS_SCHEDULER_METRICS_PORT=str(free_port()),
    )
    env.update(settings)
    if backlog is not None:
        env["CHRONOS_QUEUE_BACKLOG"] = str(backlog)
    return spawn(name, [python(), "-m", "scheduler"], env, ctx.log_dir)


def start_worker(ctx: BenchContext) -> Child:
    argv = [
        venv_tool("dramatiq"),
        "worker",
        "--processes",
        str(WORKER_PROCESSES),
        "--threads",
        str(WORKER_THREADS),
    ]
    # Dramatiq's Prometheus exposition on a port and a multiprocess directory of its own.
    metrics_dir = tempfile.mkdtemp(prefix="worker-metrics-", dir=ctx.log_dir)
    env = ctx.child_env(
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(free_port()),
        dramatiq_prom_db=metrics_dir,
    )
    return spawn("worker", argv, env, ctx.log_dir)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_api(ctx: BenchContext, workers: int, port: int) -> Child:
    argv = [
        venv_tool("gunicorn"),
        "api.app:create_app()",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]
    return spawn("api", argv, ctx.child_env(), ctx.log_dir)


def wait_dispatching(ctx: BenchContext, scheduler: Child, owner: uuid.UUID) -> None:
    """The scheduler is up once a run due now gets published."""
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc(), 1)
    wait_for(
        lambda: workload.count_where(ctx.engine, CONFIRMED) >= 1,
        60,
        "the scheduler to publish a first run",
        children=[scheduler],
    )


def wait_worker_ready(ctx: BenchContext, worker: Child, others: list[Child]) -> None:
    """Every worker process logs that it is ready, and noop runs go all the way through,
    so that the measurements start with a warm stack (connections open, code loaded)."""
    wait_for(
        lambda: worker.log_count(DRAMATIQ_READY) >= WORKER_PROCESSES,
        90,
        "both worker processes to be ready",
        children=[worker, *others],
    )
    owner = workload.create_owner(ctx.engine)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc(), 4 * WORKER_THREADS)
    wait_for(
        lambda: workload.count_where(ctx.engine, "state = 'succeeded'") >= 4 * WORKER_THREADS,
        60,
        "warm-up noop runs to succeed",
        children=[worker, *others],
    )


class WorkerStack:
    """A scheduler and a worker, started once and shared by the benchmarks that need
    both (C2, C3): warm, with an empty ``runs`` table between benchmarks."""

    def __init__(self) -> None:
        self.scheduler: Child | None = None
        self.worker: Child | None = None
        self.scheduler_settings: dict[str, str] = {}
        self.metrics_port = 0

    def ensure(self, ctx: BenchContext, **scheduler_settings: str) -> tuple[Child, Child]:
        """The stack, its scheduler started with ``scheduler_settings`` (CHRONOS_*
        variables): one started with others is replaced, the worker kept."""
        if self.scheduler is not None and scheduler_settings != self.scheduler_settings:
            stop_together([self.scheduler], 10.0)
            self.scheduler = self._start_scheduler(ctx, scheduler_settings)
            if self.worker is not None:
                wait_dispatching(ctx, self.scheduler, workload.create_owner(ctx.engine))
        if self.scheduler is None or self.worker is None:
            self.scheduler = self._start_scheduler(ctx, scheduler_settings)
            self.worker = start_worker(ctx)
            wait_worker_ready(ctx, self.worker, [self.scheduler])
        self.scheduler.check_alive()
        self.worker.check_alive()
        ctx.reset_tables()
        return self.scheduler, self.worker

    def _start_scheduler(self, ctx: BenchContext, settings: dict[str, str]) -> Child:
        self.scheduler_settings = settings
        self.metrics_port = free_port()
        return start_scheduler(
            ctx, CHRONOS_SCHEDULER_METRICS_PORT=str(self.metrics_port), **settings
        )

    def scheduler_counter(self, name: str) -> float:
        """A counter of the shared scheduler's metrics (``chronos_scheduler_<name>``)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
        for family in text_string_to_metric_families(page):
            if family.name == f"chronos_scheduler_{name}":
                return float(family.samples[0].value)
        raise RuntimeError(f"the scheduler shows no chronos_scheduler_{name}")

    def stop(self) -> None:
        stop_together([child for child in (self.worker, self.scheduler) if child], 10.0)
        self.scheduler = self.worker = None


WORKER_STACK = WorkerStack()
