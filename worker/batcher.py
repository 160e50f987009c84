"""Batching a worker process's database work across its threads.

Each of a process's worker threads would otherwise pay a transaction and a commit to
start a run and another to finish it, and commits are what a run costs. A batcher
thread takes every request waiting at that moment and serves them with one statement
and one commit, as River's batch completer does. There is no timer: an idle system
serves a lone request at once, and a busy one batches whatever piled up while the
previous batch was being written.

A caller either waits for its answer (:meth:`Batcher.submit`) or hands the request over
and goes on (:meth:`Batcher.enqueue`). Requests handed over are bounded
(``max_pending``): past that, ``enqueue`` waits, so a slow database slows the callers
instead of filling memory. :meth:`Batcher.drain` waits until everything handed over has
been served, for a graceful stop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger("chronos.worker.batcher")

# How long a batcher waits for a request before it calls its ``on_idle``.
IDLE_SECONDS = 1.0

Request = TypeVar("Request")
Answer = TypeVar("Answer")


class Batcher(Generic[Request, Answer]):
    def __init__(
        self,
        name: str,
        serve: Callable[[Sequence[Request]], Sequence[Answer]],
        *,
        max_batch: int = 200,
        max_pending: int = 1000,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.serve = serve
        # Called in the batcher's thread once it has had no request for IDLE_SECONDS (to
        # give back a connection it holds while busy).
        self.on_idle = on_idle
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._requests: queue.SimpleQueue[tuple[Request, Future[Answer]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Requests handed over and not yet answered.
        self._pending = 0
        self._changed = threading.Condition()

    def submit(self, request: Request) -> Answer:
        """Wait for the answer to ``request``; raises what serving its batch raised."""
        return self.enqueue(request).result()

    def enqueue(self, request: Request) -> Future[Answer]:
        """Hand ``request`` over; its answer (or error) arrives in the future."""
        self._ensure_thread()
        with self._changed:
            self._changed.wait_for(lambda: self._pending < self.max_pending)
            self._pending += 1
        future: Future[Answer] = Future()
        self._requests.put((request, future))
        return future

    def drain(self, timeout: float) -> bool:
        """Wait until every request handed over has its answer; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            return self._changed.wait_for(
                lambda: self._pending == 0, timeout=max(0.0, deadline - time.monotonic())
            )

    def _ensure_thread(self) -> None:
        # Started on first use, so that it lives in the worker process Dramatiq forked.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _next_request(self) -> tuple[Request, Future[Answer]]:
        if self.on_idle is None:
            return self._requests.get()
        try:
            return self._requests.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            self.on_idle()
            return self._requests.get()

    def _run(self) -> None:
        while True:
            batch = [self._next_request()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._requests.get_nowait())
                except queue.Empty:
                    break
            try:
                answers = self.serve([request for request, _ in batch])
            except Exception as error:  # every waiting caller gets it, and decides
                for _, future in batch:
                    future.set_exception(error)
            else:
                for (_, future), answer in zip(batch, answers, strict=True):
                    future.set_result(answer)
            with self._changed:
                self._pending -= len(batch)
                self._changed.notify_all()
