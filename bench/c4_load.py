"""The C4 load generator, run as its own process (``python -m bench.c4_load``) so that
the client's GIL does not cap the figure: N threads, each with its own keep-alive
``http.client`` connection, send requests back to back (a closed loop) from an agreed
start time for a fixed duration, and write their latencies as JSON.

Only the standard library, so that it starts fast and stays light. The token comes in
BENCH_TOKEN.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def submit_body() -> bytes:
    return json.dumps({"name": "bench-submit", "type": "noop"}).encode()


def batch_body(size: int) -> bytes:
    # Due tomorrow, so the batch measures the API's writes, not a scheduler.
    run_at = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    job = {"name": "bench-batch", "type": "noop", "schedule": {"run_at": run_at}}
    return json.dumps({"jobs": [job] * size}).encode()


class Client(threading.Thread):
    def __init__(self, port: int, path: str, body: bytes, token: str, start: float, stop: float):
        super().__init__(daemon=True)
        self.port, self.path, self.body = port, path, body
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Connection": "keep-alive",
        }
        self.start_at, self.stop_at = start, stop
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.last_done = start

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        time.sleep(max(0.0, self.start_at - time.time()))
        while time.time() < self.stop_at:
            sent = time.perf_counter()
            try:
                connection.request("POST", self.path, body=self.body, headers=self.headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as error:
                connection.close()  # reconnects on the next request
                status = error.__class__.__name__
            self.last_done = time.time()
            self.statuses[status] += 1
            if status in {"200", "201"}:
                self.latencies.append((time.perf_counter() - sent) * 1000)
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("submit", "batch"), required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    token = os.environ["BENCH_TOKEN"]
    if args.mode == "submit":
        path, body = "/jobs/submit", submit_body()
    else:
        path, body = "/jobs/batch", batch_body(args.batch_size)
    stop = args.start_at + args.duration
    clients = [
        Client(args.port, path, body, token, args.start_at, stop) for _ in range(args.threads)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    statuses: Counter[str] = Counter()
    for client in clients:
        statuses.update(client.statuses)
    result: dict[str, Any] = {
        "latencies_ms": [value for client in clients for value in client.latencies],
        "statuses": dict(statuses),
        "last_done": max(client.last_done for client in clients),
    }
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
