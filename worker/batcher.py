"""Batching a worker process's database work across its threads.

Each of a process's worker threads would otherwise pay a transaction and a commit to
start a run and another to finish it, and commits are what a run costs. A batcher
thread takes every request waiting at that moment and serves them with one statement
and one commit, as River's batch completer does. There is no timer: an idle system
serves a lone request at once, and a busy one batches whatever piled up while the
previous batch was being written. With several serving threads, batches are written
concurrently, and PostgreSQL flushes their commits together.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger("chronos.worker.batcher")

Request = TypeVar("Request")
Answer = TypeVar("Answer")


class Batcher(Generic[Request, Answer]):
    def __init__(
        self,
        name: str,
        serve: Callable[[Sequence[Request]], Sequence[Answer]],
        *,
        max_batch: int = 200,
        threads: int = 1,
    ) -> None:
        self.name = name
        self.serve = serve
        self.max_batch = max_batch
        self.threads = threads
        self._requests: queue.SimpleQueue[tuple[Request, Future[Answer]]] = queue.SimpleQueue()
        self._running: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._unanswered = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, request: Request) -> Answer:
        """Wait for the answer to ``request``; raises what serving its batch raised."""
        return self.submit_async(request).result()

    def submit_async(self, request: Request) -> Future[Answer]:
        """Queue ``request``; the future holds its answer once its batch is served."""
        self._ensure_thread()
        future: Future[Answer] = Future()
        with self._lock:
            self._unanswered += 1
        self._requests.put((request, future))
        return future

    def drain(self, timeout: float) -> bool:
        """Wait until every request queued so far is answered; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unanswered == 0, timeout)

    def _ensure_thread(self) -> None:
        # Started on first use, so that they live in the worker process Dramatiq forked.
        with self._lock:
            self._running = [thread for thread in self._running if thread.is_alive()]
            while len(self._running) < self.threads:
                name = f"{self.name}-{len(self._running)}"
                thread = threading.Thread(target=self._run, name=name, daemon=True)
                thread.start()
                self._running.append(thread)

    def _run(self) -> None:
        while True:
            batch = [self._requests.get()]
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
            with self._idle:
                self._unanswered -= len(batch)
                self._idle.notify_all()
