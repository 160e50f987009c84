"""Running an operator's handler in a child process of its own.

It guards against a poison job: a handler from CHRONOS_JOB_MODULES that calls
``os._exit``, segfaults or is OOM-killed would otherwise take its Dramatiq worker process
with it, and Dramatiq's CLI then stops every worker process (and honcho the whole
stack). In a forked child, only the child dies; the worker thread sees it exit without
an answer, and the run fails with ``error.kind: "crashed"``.

It also bounds a handler that ignores cancellation: when the run is cancelled or times
out, the child gets SIGTERM, then SIGKILL after :data:`KILL_AFTER` seconds.

The built-in types are Chronos's own code, cooperative and fast; they stay in-thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

from shared.jobtypes import Handler, JobFailed, RunContext

KILL_AFTER = 2.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024


class HandlerCrashed(Exception):
    """The handler's process ended without an answer."""


class HandlerRaised(Exception):
    """The handler raised in its process; the message is ``Class: message``."""


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the handler's process was killed by {name}"
    return f"the handler's process exited with status {os.waitstatus_to_exitcode(status)}"


def _answer(handler: Handler, payload: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    try:
        result = handler(payload, ctx)
    except JobFailed as failed:
        return {"failed": [failed.kind, failed.message], "result": failed.result}
    except BaseException as exc:  # reported to the parent as the run's exception
        return {"exception": f"{exc.__class__.__name__}: {exc}"}
    return {"result": None if result is None else dict(result)}


def _child(handler: Handler, payload: dict[str, Any], ctx: RunContext, write_fd: int) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)  # not the Dramatiq worker's handlers
    # The allowance would use the parent's pooled connections, which a forked child must
    # never touch.
    ctx.allowance = None
    try:
        encoded = json.dumps(_answer(handler, payload, ctx), default=str).encode()
        with os.fdopen(write_fd, "wb") as out:
            out.write(encoded)
    finally:
        os._exit(0)  # no atexit, no flushing of the parent's buffers


def call_isolated(
    handler: Handler, payload: dict[str, Any], ctx: RunContext
) -> Mapping[str, Any] | None:
    """Call ``handler`` in a forked child; raise what it raised (JobFailed, or an
    exception with its message), or :class:`HandlerCrashed` if the child died."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(read_fd)
        _child(handler, payload, ctx, write_fd)
    os.close(write_fd)
    done = threading.Event()

    def stop_child() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not done.wait(KILL_AFTER):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    ctx.on_interrupt(lambda: threading.Thread(target=stop_child, daemon=True).start())
    chunks: list[bytes] = []
    try:
        with os.fdopen(read_fd, "rb") as answers:
            while chunk := answers.read(65536):
                if sum(map(len, chunks)) < MAX_ANSWER_BYTES:
                    chunks.append(chunk)
    finally:
        _, status = os.waitpid(pid, 0)
        done.set()
    try:
        answer: dict[str, Any] = json.loads(b"".join(chunks)) if chunks else {}
    except ValueError:
        answer = {}
    if not answer:
        raise HandlerCrashed(describe_exit(status))
    if "failed" in answer:
        kind, message = answer["failed"]
        raise JobFailed(str(kind), str(message), answer.get("result"))
    if "exception" in answer:
        raise HandlerRaised(str(answer["exception"]))
    result: Mapping[str, Any] | None = answer.get("result")
    return result
