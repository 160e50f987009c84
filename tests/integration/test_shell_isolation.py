"""Shell jobs cannot read the worker's secrets, cannot fill the disk, and do not outlive
the worker (M9). The worker is played by a real process (``shell_parent``) holding a
secret in its environment, as a worker holds CHRONOS_DATABASE_URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.hardening import dumpable
from shared.run_context import RunContext
from shared.settings import Settings
from tests.integration.dispatch_helpers import worker_module

shell = worker_module("handlers.shell")

ROOT = Path(__file__).resolve().parents[2]
SECRET = "chronos-secret-" + uuid.uuid4().hex


def parent(argv: list[str]) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CHRONOS_JWT_SECRET": SECRET,
        "CHRONOS_DATABASE_URL": f"postgresql://chronos:{SECRET}@db/chronos",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.shell_parent", json.dumps(argv)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def poll(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_a_shell_job_cannot_read_the_workers_environment() -> None:
    script = "cat /proc/$PPID/environ; tr '\\0' '\\n' < /proc/$PPID/environ; env"
    process = parent(["sh", "-c", script])
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "started" in out
    assert SECRET not in out
    assert "CHRONOS_" not in out.split("\n", 1)[1]


def running(marker: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    return True
            except OSError:
                continue
    return False


def test_a_shell_job_dies_with_its_worker() -> None:
    marker = f"{300 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}"
    # The child's own command line: the parent's holds the marker too (in its JSON argv),
    # so waiting for the marker alone could kill the parent before the child exists.
    child = f"sleep\x00{marker}"
    process = parent(["sleep", marker])
    try:
        poll(lambda: running(child), 30, "the shell child to start")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        poll(lambda: not running(child), 10, "the shell child outlived its worker")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def context() -> RunContext:
    import logging
    from datetime import UTC, datetime

    return RunContext(
        run_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        attempt=1,
        deadline=datetime.now(UTC),
        logger=logging.getLogger("test"),
        settings=Settings(enable_shell_jobs=True),
    )


def test_output_is_capped_as_it_arrives(tmp_path: Path) -> None:
    """What the child writes past the cap is stored nowhere: after 5 MB its stdout holds
    at most a pipe's worth, where a file (even an unlinked temporary one, invisible in
    any directory) would hold all 5 MB on the worker's disk."""
    # $(...), not "stat ... >&2": dash applies a redirection in the shell itself, so
    # /proc/$$/fd/1 would be stderr while stat runs.
    script = (
        "head -c 5000000 /dev/zero | tr '\\0' y; "
        "held=$(stat -L -c %s /proc/$$/fd/1); echo held=$held >&2; "
        "head -c 200000 /dev/zero >&2"
    )
    payload: dict[str, Any] = {"argv": ["sh", "-c", script], "env": {"TMPDIR": str(tmp_path)}}
    result = shell.run(payload, context())
    [held] = [int(line[5:]) for line in result["stderr"].split("\n") if line.startswith("held=")]
    assert held <= shell.MAX_OUTPUT
    assert len(result["stdout"]) == shell.MAX_OUTPUT
    assert set(result["stdout"]) == {"y"}
    assert len(result["stderr"]) == shell.MAX_OUTPUT
    assert result["truncated"] is True
    assert list(tmp_path.iterdir()) == []


def test_grandchildren_are_killed_after_a_normal_exit() -> None:
    marker = f"{1300 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}"
    result = shell.run({"argv": ["sh", "-c", f"sleep {marker} & echo left"], "env": {}}, context())
    assert result["stdout"] == "left\n"
    poll(lambda: not running(f"sleep\x00{marker}"), 10, "a grandchild outlived its job")


def test_the_worker_process_can_be_made_non_dumpable() -> None:
    # Another test may have imported ``worker`` here, which protects this process too.
    before = dumpable()
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from shared.hardening import protect_process, dumpable;"
            "assert dumpable(); protect_process(); print(dumpable())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert process.stdout.strip() == "False"
    assert dumpable() == before  # this test process is left as it was


def test_the_worker_module_makes_its_process_non_dumpable() -> None:
    """What Dramatiq's worker processes load (``worker``) calls protect_process: the
    tests above play the worker with a stand-in that calls it itself."""
    check = "import ctypes, worker; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # GET_DUMPABLE
    process = subprocess.run(
        [sys.executable, "-c", check],
        cwd=ROOT,
        env={**os.environ, "CHRONOS_JWT_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert process.stdout.strip() == "0"
