"""Child processes, each in its own session so that a signal reaches the children that
Dramatiq, gunicorn and Celery fork. Every child ever started is tracked here, so that the
end of the run (normal, exception or Ctrl-C) stops them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
STOP_GRACE_SECONDS = 10.0

_RUNNING: list[Child] = []


def venv_tool(name: str) -> str:
    """A console script of the project's virtualenv (``dramatiq``, ``gunicorn``...)."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    started: float  # time.time() just before the spawn

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _signal_group(self, signum: int) -> None:
        # start_new_session: the leader's pid is the process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace`` seconds."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        # Forked children may outlive their leader: the group gets SIGKILL either way.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)
        self.log_file.close()
        with contextlib.suppress(ValueError):
            _RUNNING.remove(self)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if " INFO pika" not in line]
        return "\n".join(kept[-lines:])

    def log_count(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}: {self.log_tail(8)}"
            )


def spawn(name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}-{len(list(log_dir.iterdir()))}.log"
    log_file = log_path.open("wb")
    log_file.write(("$ " + " ".join(argv) + "\n").encode())
    log_file.flush()
    started = time.time()
    popen = subprocess.Popen(
        list(argv),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    child = Child(name, popen, log_path, log_file, started)
    _RUNNING.append(child)
    return child


def stop_together(children: Sequence[Child], grace: float) -> None:
    """SIGTERM every group at once, so their shutdowns overlap, then stop each."""
    for child in children:
        if child.alive():
            child._signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        child.stop(max(0.1, deadline - time.monotonic()))


def stop_all(grace: float = STOP_GRACE_SECONDS) -> None:
    stop_together(list(reversed(_RUNNING)), grace)


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.05,
    children: Sequence[Child] = (),
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` or if a child died."""
    deadline = time.monotonic() + timeout
    while True:
        for child in children:
            child.check_alive()
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the peak resident set) of a live process, in MB, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None
