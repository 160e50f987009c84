"""C4, the API: real HTTP against gunicorn started as the Procfile starts it, with
``--workers`` = 2 x cores + 1 (gunicorn's documented starting point).

- Single ``POST /jobs/submit`` (a ``noop`` to run now): requests per second and p99
  latency, with 16 concurrent clients (2 load processes x 8 threads, closed loop,
  keep-alive connections where gunicorn keeps them).
- ``POST /jobs/batch`` of 1,000 jobs: jobs per second, 2 processes x 2 threads.

No scheduler or worker runs: this measures what the API can store. The load runs in
separate processes so the client's GIL does not cap it; they share the 2 cores with
gunicorn and PostgreSQL, as a client on the same machine would.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from typing import Any

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import Child, spawn, wait_for
from bench.report import Figure
from bench.stack import free_port, python, start_api

LOAD_PROCESSES = 2
SUBMIT_THREADS = 8  # per load process: 16 clients
BATCH_THREADS = 2


def api_workers(quick: bool) -> int:
    """Gunicorn's advice, 2 x cores + 1; the smoke run boots 2, which is quicker on a
    busy machine and runs the same code."""
    return 2 if quick else 2 * (os.cpu_count() or 1) + 1


def request(
    port: int, method: str, path: str, body: Any = None, token: str = ""
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


def healthy(port: int) -> bool:
    try:
        return request(port, "GET", "/health")[0] == 200
    except OSError:
        return False


def run_load(
    ctx: BenchContext, port: int, token: str, mode: str, threads: int, duration: float
) -> tuple[list[float], dict[str, int], float]:
    """Run the load processes; their latencies, statuses and requests per second."""
    start_at = time.time() + 0.8  # after the load processes have started
    children: list[Child] = []
    outputs = []
    for index in range(LOAD_PROCESSES):
        out = ctx.log_dir / f"c4-{mode}-{index}.json"
        outputs.append(out)
        argv = [
            python(),
            "-m",
            "bench.c4_load",
            f"--port={port}",
            f"--mode={mode}",
            f"--threads={threads}",
            f"--start-at={start_at}",
            f"--duration={duration}",
            f"--batch-size={ctx.sizes.c4_batch_size}",
            f"--out={out}",
        ]
        children.append(
            spawn(f"c4-load-{mode}", argv, ctx.child_env(BENCH_TOKEN=token), ctx.log_dir)
        )
    for child in children:
        child.popen.wait(timeout=duration + 90)
        child.stop()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    last_done = start_at
    for child, out in zip(children, outputs, strict=True):
        if not out.exists():
            raise RuntimeError(f"a load process wrote nothing: {child.log_tail(5)}")
        result = json.loads(out.read_text())
        latencies += result["latencies_ms"]
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
        last_done = max(last_done, result["last_done"])
    return latencies, statuses, len(latencies) / (last_done - start_at)


def describe(statuses: dict[str, int]) -> str:
    failures = {status: n for status, n in statuses.items() if status not in {"200", "201"}}
    if not failures:
        return ""
    return "; failures " + ", ".join(f"{status} x{n}" for status, n in sorted(failures.items()))


def measure(ctx: BenchContext) -> dict[str, Figure]:
    sizes = ctx.sizes
    ctx.reset_tables()
    port = free_port()
    workers = api_workers(ctx.quick)
    api = start_api(ctx, workers, port)
    try:
        wait_for(lambda: healthy(port), 60, "GET /health", interval=0.1, children=[api])
        status, body = request(
            port,
            "POST",
            "/users/create",
            {"username": f"bench{uuid.uuid4().hex[:10]}", "password": uuid.uuid4().hex},
        )
        if status != 201:
            raise RuntimeError(f"POST /users/create answered {status}: {body}")
        token = body["token"]
        for _ in range(2 * workers):  # warm every worker's pool and code paths
            request(port, "POST", "/jobs/submit", {"type": "noop"}, token)
        latencies, statuses, rate = run_load(
            ctx, port, token, "submit", SUBMIT_THREADS, sizes.c4_seconds
        )
        clients = LOAD_PROCESSES * SUBMIT_THREADS
        submit_note = (
            f"{len(latencies):,} submits in {sizes.c4_seconds:g} s, {clients} clients, "
            f"gunicorn --workers {workers}{describe(statuses)}"
        )
        p99 = workload.percentile(latencies, 0.99)
        p50 = workload.percentile(latencies, 0.50)
        batches, batch_statuses, batch_rate = run_load(
            ctx, port, token, "batch", BATCH_THREADS, sizes.c4_batch_seconds
        )
        batch_note = (
            f"{len(batches)} batches of {sizes.c4_batch_size}, "
            f"{LOAD_PROCESSES * BATCH_THREADS} clients, "
            f"p50 {workload.percentile(batches, 0.5):.0f} ms"
            f"{describe(batch_statuses)}"
        )
    finally:
        api.stop()
        ctx.reset_tables()
    return {
        "c4_submit": Figure(rate, "/s", submit_note),
        "c4_p99": Figure(p99, "ms", f"p50 {p50:.1f} ms"),
        "c4_batch": Figure(batch_rate * sizes.c4_batch_size, "/s", batch_note),
    }


BENCHMARK = Benchmark("C4", {"c4_submit": "/s", "c4_p99": "ms", "c4_batch": "/s"}, measure)
