"""Batching a worker process's database work across its threads.

Each of a process's worker threads would otherwise pay a transaction and a commit to
start a run and another to finish it, and commits are what a run costs. A batcher
thread takes every request waiting at that moment and serves them with one statement
and one commit, as River's batch completer does. There is no timer: an idle system
serves a lone request at once, and a busy one batches whatever piled up while the
previous batch was being written.
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
    ) -> None:
        self.name = name
        self.serve = serve
        self.max_batch = max_batch
        self._requests: queue.SimpleQueue[tuple[Request, Future[Answer]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, request: Request) -> Answer:
        """Wait for the answer to ``request``; raises what serving its batch raised."""
        self._ensure_thread()
        future: Future[Answer] = Future()
        self._requests.put((request, future))
        return future.result()

    def _ensure_thread(self) -> None:
        # Started on first use, so that it lives in the worker process Dramatiq forked.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

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
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                future.set_result(answer)
