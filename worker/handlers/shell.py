"""``shell``: a child process, admin-only and opt-in (CHRONOS_ENABLE_SHELL_JOBS).

``argv`` runs directly, with no shell between, so arguments are never re-parsed. On
cancel or timeout the child's whole process group gets SIGTERM, then SIGKILL five
seconds later. Output goes to temporary files, not pipes, so a chatty child can never
block on a full pipe; each stream is cut to 64 KiB.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from typing import IO, Any

from shared.jobtypes import JobFailed, Payload, RunContext

MAX_OUTPUT = 64 * 1024
KILL_AFTER = 5.0
# The child gets a small, predictable environment plus what the payload sets, never the
# worker's own (which holds the database URL and secrets).
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def _read(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read(MAX_OUTPUT).decode("utf-8", errors="replace")


def run(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    enabled = getattr(ctx.settings, "enable_shell_jobs", False)
    if not enabled:
        raise JobFailed("exception", "shell jobs are disabled on this worker")
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        try:
            child = subprocess.Popen(  # noqa: S603 (argv from an admin, no shell)
                payload["argv"],
                env={**BASE_ENV, **payload.get("env", {})},
                cwd=payload.get("cwd") or None,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as error:
            raise JobFailed("exception", f"cannot start {payload['argv'][0]!r}: {error}") from None

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)

        ctx.on_interrupt(stop)
        while True:
            try:
                child.wait(timeout=0.2 if not ctx.cancelled.is_set() else KILL_AFTER)
                break
            except subprocess.TimeoutExpired:
                if ctx.cancelled.is_set() and child.poll() is None:
                    # Still alive KILL_AFTER seconds after SIGTERM.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
        result = {"exit_code": child.returncode, "stdout": _read(stdout), "stderr": _read(stderr)}
    if child.returncode != 0:
        raise JobFailed("exception", f"exited with code {child.returncode}", result)
    return result
