"""Runs waiting in their message behind a slow one are sent on in a message of their own.

A message may carry several runs (scheduler.packing), which one worker thread runs one
after another. Those behind the first are still ``queued``: nothing is lost if the
process dies, since the message comes back. But a run that takes long would hold them up
while other threads, here or on other hosts, sit idle, and no scheduler pass would see
it (their message is not lost, only slow). So when a run has held up the rest of its
message for :data:`RELEASE_AFTER` seconds, this module's thread publishes those runs
again, confirmed, as a new message to the same queue, and the thread that held them
skips them: whichever worker takes the new message starts them.

A run is never started twice by this: it is started only through the guarded
``queued → running`` update, wherever its messages are. If the new message cannot be
published, nothing changes: the thread runs them itself, as it would have. The same
release hands a stopping worker's waiting runs to the other workers at once, so a
graceful stop waits only for the runs in progress.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq

from shared.broker import message_for

log = logging.getLogger("chronos.worker.waiting")

# How long a run may hold up the rest of its message before they are sent on. Long
# enough that a burst of short runs never pays for a second message; short against the
# lag anyone would notice behind a run of minutes.
RELEASE_AFTER = 1.0
CHECK_EVERY = 0.25

# Publishes a message, confirmed: False if RabbitMQ did not take it.
Send = Callable[[dramatiq.Message[None]], bool]


@dataclass
class Behind:
    """The runs of one message waiting behind the one that began at ``since``."""

    queue_name: str
    run_ids: list[uuid.UUID]
    since: float
    released: bool = False


class Waiting:
    def __init__(self, send: Send, release_after: float = RELEASE_AFTER) -> None:
        self.send = send
        self.release_after = release_after
        self._behind: dict[int, Behind] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_key = 0

    def hold(self, queue_name: str, run_ids: list[uuid.UUID]) -> int | None:
        """A run begins with ``run_ids`` waiting behind it; None if nothing waits."""
        if not run_ids:
            return None
        self._ensure_thread()
        with self._lock:
            self._next_key += 1
            # A copy: the caller goes on taking runs off its list.
            self._behind[self._next_key] = Behind(queue_name, list(run_ids), time.monotonic())
            return self._next_key

    def drop(self, key: int | None) -> bool:
        """The run has ended: whether the runs behind it were sent on meanwhile."""
        if key is None:
            return False
        with self._lock:
            behind = self._behind.pop(key, None)
        return behind is not None and behind.released

    def send_on(self, queue_name: str, run_ids: list[uuid.UUID]) -> bool:
        """Publish ``run_ids`` as a new message now; False if RabbitMQ did not take it."""
        message = message_for(queue_name, run_ids)
        try:
            sent = self.send(message)
        except Exception as error:  # the runs stay with their thread, which runs them
            log.warning("sending %d waiting runs on failed: %r", len(run_ids), error)
            return False
        if sent:
            log.info(
                "%d runs waiting behind a slow run were sent on in message %s",
                len(run_ids),
                message.message_id,
            )
        return sent

    def release_overdue(self) -> int:
        """Send on the runs held up past :data:`RELEASE_AFTER`; how many were sent."""
        now = time.monotonic()
        with self._lock:
            overdue = [
                (key, behind)
                for key, behind in self._behind.items()
                if not behind.released and now - behind.since >= self.release_after
            ]
        sent = 0
        for key, behind in overdue:
            if self.send_on(behind.queue_name, behind.run_ids):
                with self._lock:
                    if key in self._behind:
                        behind.released = True
                sent += len(behind.run_ids)
            else:
                behind.since = now  # tried again a while later, not at every check
        return sent

    def _ensure_thread(self) -> None:
        # Started on first use, so that it lives in the worker process Dramatiq forked.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="chronos-waiting", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(CHECK_EVERY)
            try:
                self.release_overdue()
            except Exception:
                log.exception("sending waiting runs on failed")
