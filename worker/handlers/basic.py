"""noop, sleep and fail: for benchmarks, demos and tests of retries."""

from __future__ import annotations

from typing import Any

from shared.jobtypes import JobFailed, Payload, RunContext


def noop(payload: Payload, ctx: RunContext) -> dict[str, Any] | None:
    return None


def sleep(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    """Waits on the cancellation flag rather than sleeping, so cancel stops it at once."""
    seconds = float(payload.get("seconds", 0))
    interrupted = ctx.cancelled.wait(seconds)
    return {"slept_seconds": seconds, "interrupted": interrupted}


def fail(payload: Payload, ctx: RunContext) -> None:
    raise JobFailed("exception", str(payload.get("message") or "failed on purpose"))
