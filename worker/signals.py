"""One stop request, one SIGTERM.

Dramatiq's worker processes treat a second SIGTERM as "kill now". But ``honcho`` (the
one-command start) and some supervisors signal the whole process group, so each worker
process gets SIGTERM twice at once: from the supervisor, and forwarded by Dramatiq's main
process. It would then die with its runs in flight, and they would become ``lost``.

So a SIGTERM that comes within :data:`SAME_REQUEST` seconds of the first counts as the
same request. A deliberate second SIGTERM, later, still kills at once, as Dramatiq
intends.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

SAME_REQUEST = 2.0

SignalHandler = Callable[[int, FrameType | None], object]


def merge_duplicate_sigterms() -> None:
    """Wrap the process's SIGTERM handler (Dramatiq's) so a burst counts once. Does
    nothing outside a Dramatiq worker process, or off the main thread."""
    current = signal.getsignal(signal.SIGTERM)
    if not callable(current) or threading.current_thread() is not threading.main_thread():
        return
    handler: SignalHandler = current
    first: list[float] = []

    def once(signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if first and now - first[0] < SAME_REQUEST:
            return
        first[:] = [now]
        handler(signum, frame)

    signal.signal(signal.SIGTERM, once)
