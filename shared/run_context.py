"""What a handler works with: its :class:`RunContext`, and :class:`JobFailed` to fail.

Kept apart from the registry (:mod:`shared.jobtypes`), which the API imports for the
payloads alone; this is the worker's side of a job type.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

Payload = dict[str, Any]


class JobFailed(Exception):
    """Raised by a handler for a failure it understands (an HTTP 500, a non-zero exit).

    ``kind`` is the run's ``error.kind``; ``result`` is kept as the run's result, so the
    user sees what the target answered."""

    def __init__(self, kind: str, message: str, result: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.result = dict(result) if result is not None else None


@dataclass
class RunContext:
    """What a handler gets besides its payload.

    ``cancelled`` is set when the run is cancelled or times out (``reason`` says which).
    Long handlers wait on it (``ctx.cancelled.wait(seconds)``) instead of sleeping, and
    register an interrupt with :meth:`on_interrupt` to abort blocking I/O (close a
    socket, terminate a child process).
    """

    run_id: uuid.UUID
    job_id: uuid.UUID
    attempt: int
    deadline: datetime
    logger: logging.Logger
    settings: Any = None
    # allowance(what, limit, window): take one of the run owner's ``limit`` of ``what``
    # per ``window`` (worker.allowance); False once spent. None: no per-owner limit here
    # (a handler in a child process, or a test).
    allowance: Callable[[str, int, timedelta], bool] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None
    _interrupts: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def interrupt(self, reason: str) -> None:
        """Stop the handler: "cancelled" or "timeout". Only the first reason counts."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            callbacks = list(self._interrupts)
        self.cancelled.set()
        for callback in callbacks:
            try:
                callback()
            except Exception:
                self.logger.exception("an interrupt callback failed")

    def on_interrupt(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if self.reason is None:
                self._interrupts.append(callback)
                return
        callback()
