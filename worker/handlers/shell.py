"""``shell``: a child process, admin-only and opt-in (CHRONOS_ENABLE_SHELL_JOBS).

``argv`` runs directly, with no shell between, so arguments are never re-parsed. On
cancel or timeout the child's whole process group gets SIGTERM, then SIGKILL five
seconds later; after a normal exit whatever is left of the group gets SIGKILL too.

The child cannot reach the worker's secrets:
- its environment is ``BASE_ENV`` plus the payload's ``env``, never the worker's own;
- ``/proc/<worker>/environ`` still holds the worker's initial environment (the database
  URL, the broker URL), so the worker makes itself non-dumpable
  (:func:`shared.hardening.protect_process`), which makes that file unreadable to
  processes of the same uid, and a worker running as root starts children as
  ``nobody``, which cannot read another uid's files in ``/proc`` at all;
- it runs under ``setpriv --no-new-privs`` where util-linux is installed, so no
  set-uid program raises it again.

It dies with the worker: ``setpriv --pdeathsig KILL`` sets the parent-death signal
before the command starts, so a worker killed by SIGKILL or the OOM killer does not
leave a copy running beside the retry.

Output is read through pipes, and all but the first 64 KiB of each stream is discarded
as it arrives: nothing is written to disk, and a chatty child never blocks on a full
pipe.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from typing import IO, Any

from shared.jobtypes import JobFailed, Payload, RunContext

MAX_OUTPUT = 64 * 1024
KILL_AFTER = 5.0
# The child gets a small, predictable environment plus what the payload sets, never the
# worker's own (which holds the database URL and secrets).
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
# Who runs the child when the worker is root.
UNPRIVILEGED_UID = 65534


class CappedReader(threading.Thread):
    """Drains one pipe, keeping its first ``MAX_OUTPUT`` bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.kept = bytearray()
        self.truncated = False

    def run(self) -> None:
        with self.stream:
            while chunk := os.read(self.stream.fileno(), 65536):
                room = MAX_OUTPUT - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
                if len(chunk) > room:
                    self.truncated = True

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")


def command(argv: list[str]) -> list[str]:
    """``argv``, behind setpriv when it is installed."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--no-new-privs", "--", *argv]


def run(payload: Payload, ctx: RunContext) -> dict[str, Any]:
    enabled = getattr(ctx.settings, "enable_shell_jobs", False)
    if not enabled:
        raise JobFailed("exception", "shell jobs are disabled on this worker")
    argv = list(payload["argv"])
    env = {**BASE_ENV, **payload.get("env", {})}
    program = argv[0]
    if "/" not in program and shutil.which(program, path=env.get("PATH")) is None:
        raise JobFailed("exception", f"cannot start {program!r}: no such program")
    as_root = os.geteuid() == 0
    try:
        child = subprocess.Popen(  # noqa: S603 (argv from an admin, no shell)
            command(argv),
            env=env,
            cwd=payload.get("cwd") or None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            user=UNPRIVILEGED_UID if as_root else None,
            group=UNPRIVILEGED_UID if as_root else None,
            extra_groups=[] if as_root else None,
        )
    except OSError as error:
        raise JobFailed("exception", f"cannot start {program!r}: {error.strerror}") from None
    assert child.stdout is not None
    assert child.stderr is not None
    readers = [CappedReader(child.stdout), CappedReader(child.stderr)]
    for reader in readers:
        reader.start()

    def kill_group(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)

    ctx.on_interrupt(lambda: kill_group(signal.SIGTERM))
    try:
        while True:
            try:
                child.wait(timeout=0.2 if not ctx.cancelled.is_set() else KILL_AFTER)
                break
            except subprocess.TimeoutExpired:
                if ctx.cancelled.is_set() and child.poll() is None:
                    kill_group(signal.SIGKILL)  # still alive KILL_AFTER seconds after SIGTERM
    finally:
        # Grandchildren left in the group would hold the pipes open and run on.
        kill_group(signal.SIGKILL)
        for reader in readers:
            reader.join(timeout=KILL_AFTER)
    stdout, stderr = readers
    result: dict[str, Any] = {
        "exit_code": child.returncode,
        "stdout": stdout.text(),
        "stderr": stderr.text(),
    }
    if stdout.truncated or stderr.truncated:
        result["truncated"] = True
    if child.returncode != 0:
        raise JobFailed("exception", f"exited with code {child.returncode}", result)
    return result
