"""The real Chronos processes, started exactly as the Procfile starts them.

Each Procfile line runs through ``bash -c`` with the virtualenv's ``bin`` first on PATH,
in its own session (so a signal reaches its whole process group, including the
children that Dramatiq and gunicorn fork), with its output in a log file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.e2e.client import Client
from tests.e2e.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
_VENV = ROOT / ".venv" / "bin"
VENV_BIN = _VENV if _VENV.is_dir() else Path(sys.executable).parent
STOP_GRACE_SECONDS = 10.0

# Stacks that are running, so that a failing test's report can show their logs.
ACTIVE: list[Stack] = []


def read_procfile(path: Path) -> dict[str, str]:
    commands: dict[str, str] = {}
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, command = stripped.partition(":")
        commands[name.strip()] = command.strip()
    return commands


# pika narrates every connection at INFO; the tails leave that out to keep what matters.
NOISE = (" INFO pika.",)


def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    kept = [line for line in text.splitlines() if not any(noise in line for noise in NOISE)]
    return "\n".join(kept[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    started_at: float
    metrics_env: dict[str, str]

    @property
    def metrics_url(self) -> str | None:
        """Where the worker's (Dramatiq's) or the scheduler's metrics server listens."""
        port = self.metrics_env.get("dramatiq_prom_port") or self.metrics_env.get(
            "CHRONOS_SCHEDULER_METRICS_PORT"
        )
        return f"http://127.0.0.1:{port}/metrics" if port else None

    @property
    def metrics_dir(self) -> Path | None:
        """The multiprocess directory of the API (gunicorn) or the worker (Dramatiq)."""
        directory = self.metrics_env.get("PROMETHEUS_MULTIPROC_DIR") or self.metrics_env.get(
            "dramatiq_prom_db"
        )
        return Path(directory) if directory else None

    @property
    def pgid(self) -> int:
        return self.popen.pid  # start_new_session: the leader's pid is the group id

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group, as ``kill -9`` would, and reap the leader."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_GRACE_SECONDS)
        self.log_file.close()

    def stop(self) -> None:
        """SIGTERM the group; SIGKILL whatever is left after the grace period."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=STOP_GRACE_SECONDS)
        # Children may outlive their leader: the group gets SIGKILL either way.
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_GRACE_SECONDS)
        self.log_file.close()


class Stack:
    def __init__(self, env: dict[str, str], log_dir: Path, api_port: int) -> None:
        self.env = env
        self.log_dir = log_dir
        self.url = f"http://127.0.0.1:{api_port}"
        self.procfile = read_procfile(ROOT / "Procfile")
        self.processes: dict[str, Process] = {}
        self.history: list[Process] = []
        self._service: Client | None = None
        self.queues: set[str] = {"default"}

    # Process management ------------------------------------------------------------

    def spawn(
        self, name: str, kind: str, extra_args: str = "", env: dict[str, str] | None = None
    ) -> Process:
        """Start the Procfile's ``kind`` line (plus ``extra_args``) under ``name``."""
        command = self.procfile[kind]
        if extra_args:
            command = f"{command} {extra_args}"
        log_path = self.log_dir / f"{name}-{len(self.history)}.log"
        metrics_env = self._metrics_env(kind, log_path.with_suffix(".metrics"))
        log_file = log_path.open("wb")
        log_file.write(f"$ {command}\n".encode())
        log_file.flush()
        popen = subprocess.Popen(
            ["bash", "-c", command],
            cwd=ROOT,
            env={**self.env, **metrics_env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log_path, log_file, time.time(), metrics_env)
        self.processes[name] = process
        self.history.append(process)
        return process

    @staticmethod
    def _metrics_env(kind: str, directory: Path) -> dict[str, str]:
        """Each process its own metrics port and multiprocess directory: several stacks,
        and several workers or schedulers of one stack, run side by side."""
        if kind == "api":
            return {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
        if kind == "worker":
            return {
                "dramatiq_prom_host": "127.0.0.1",
                "dramatiq_prom_port": str(free_port()),
                "dramatiq_prom_db": str(directory),
            }
        if kind == "scheduler":
            return {
                "CHRONOS_SCHEDULER_METRICS_HOST": "127.0.0.1",
                "CHRONOS_SCHEDULER_METRICS_PORT": str(free_port()),
            }
        return {}

    def check_alive(self) -> None:
        for process in self.processes.values():
            if not process.alive():
                raise AssertionError(
                    f"{process.name} exited with {process.popen.returncode}:\n"
                    f"{tail(process.log_path, 80)}"
                )

    def start(self) -> None:
        ACTIVE.append(self)
        self.spawn("api", "api")
        self.spawn("scheduler", "scheduler")
        # The default worker serves "default" only, whatever CHRONOS_QUEUES the API has.
        self.start_worker(wait=False)
        wait_for(self._healthy, timeout=60, interval=0.2, message="GET /health to answer 200")
        self.wait_consuming()

    def _healthy(self) -> bool:
        self.check_alive()
        try:
            status, body = Client(self.url, timeout=2).get("/health")
        except OSError:
            return False
        return status == 200 and body == {"status": "ok"}

    @property
    def service(self) -> Client:
        """A user of the harness itself, for readiness probes."""
        if self._service is None:
            self._service = Client(self.url).as_new_user()
        return self._service

    def wait_consuming(self, queue: str = "default", timeout: float = 60) -> None:
        """A worker consumes ``queue`` once a ``noop`` submitted to it succeeds."""
        job = self.service.expect("POST", "/jobs/submit", 201, {"type": "noop", "queue": queue})

        def succeeded() -> str | bool:
            self.check_alive()
            status = self.service.job(job["id"])["status"]
            if status in {"failed", "cancelled"}:
                raise AssertionError(f"the readiness noop on {queue!r} ended {status}")
            return status == "succeeded" or status

        wait_for(succeeded, timeout, interval=0.1, message=f"a worker to consume {queue!r}")

    def kill_worker(self, name: str = "worker") -> None:
        self.processes.pop(name).kill()

    def start_worker(
        self,
        name: str = "worker",
        queues: tuple[str, ...] = (),
        wait: bool = True,
    ) -> Process:
        """Start a worker with the Procfile command. With ``queues``, it declares them
        (CHRONOS_QUEUES) and consumes only them (Dramatiq's ``--queues``)."""
        extra = ""
        env: dict[str, str] = {}
        queues = queues or ("default",)
        if queues:
            prefix = self.env["CHRONOS_QUEUE_PREFIX"]
            extra = "--queues " + " ".join(f"{prefix}{queue}" for queue in queues)
            env["CHRONOS_QUEUES"] = ",".join(queues)
            self.queues.update(queues)
        process = self.spawn(name, "worker", extra, env)
        if wait:
            self.wait_consuming(queues[0] if queues else "default")
        return process

    def stop_process(self, name: str) -> None:
        self.processes.pop(name).stop()

    def restart_scheduler(self, hard: bool = False) -> None:
        process = self.processes.pop("scheduler")
        if hard:
            process.kill()
        else:
            process.stop()
        self.spawn("scheduler", "scheduler")

    def stop(self) -> None:
        for name in list(self.processes):
            self.processes.pop(name).stop()
        if self in ACTIVE:
            ACTIVE.remove(self)

    def delete_queues(self) -> None:
        """Best effort: remove this run's queues (and Dramatiq's .DQ/.XQ) from the broker."""
        import pika

        prefix = self.env["CHRONOS_QUEUE_PREFIX"]
        url = self.env.get("CHRONOS_BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672/%2F"
        with contextlib.suppress(Exception):
            connection = pika.BlockingConnection(pika.URLParameters(url))
            try:
                channel = connection.channel()
                for queue in sorted(self.queues):
                    for suffix in ("", ".DQ", ".XQ"):
                        channel.queue_delete(queue=f"{prefix}{queue}{suffix}")
            finally:
                connection.close()

    # Helpers -----------------------------------------------------------------------

    def admin_token(self) -> str:
        username = f"admin{uuid.uuid4().hex[:12]}"
        password = f"admin-{uuid.uuid4().hex}"
        completed = subprocess.run(
            [str(VENV_BIN / "python"), "-m", "api.admin", username],
            cwd=ROOT,
            env={**self.env, "CHRONOS_ADMIN_PASSWORD": password},
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, (
            f"python -m api.admin failed ({completed.returncode}): "
            f"{completed.stdout.decode()} {completed.stderr.decode()}"
        )
        body = {"username": username, "password": password}
        token: Any = Client(self.url).expect("POST", "/auth/token", 200, body)["access_token"]
        return str(token)

    def log_tails(self, lines: int = 60) -> str:
        parts = []
        for process in self.history:
            state = "running" if process.alive() else f"exited {process.popen.returncode}"
            parts.append(
                f"===== {process.name} ({process.log_path}, {state}) =====\n"
                f"{tail(process.log_path, lines)}"
            )
        return "\n".join(parts)


@contextlib.contextmanager
def running_stack(
    env: dict[str, str], log_dir: Path, procfile_extras: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Start the stack, yield it, and always stop it and delete its queues; a stack that
    fails to start reports its processes' logs. ``procfile_extras`` appends arguments to
    Procfile lines, by process kind."""
    port = int(env["CHRONOS_API_BIND"].rsplit(":", 1)[1])
    stack = Stack(env, log_dir, port)
    for kind, extra in (procfile_extras or {}).items():
        stack.procfile[kind] = f"{stack.procfile[kind]} {extra}"
    try:
        stack.start()
    except BaseException as error:
        logs = stack.log_tails(80)
        stack.stop()
        raise AssertionError(f"the stack did not start: {error}\n{logs}") from error
    try:
        yield stack
    finally:
        stack.stop()
        stack.delete_queues()


@contextlib.contextmanager
def own_stack(
    stack_env: dict[str, str],
    database_url: str,
    name: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    procfile_extras: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A running stack with a database, a queue prefix and an API port of its own, so
    that what a module counts or reads is only its own; ``env`` adds to its settings."""
    from tests.conftest import sibling_database

    with sibling_database(database_url, name) as own_database:
        settings = {
            **stack_env,
            "CHRONOS_DATABASE_URL": own_database,
            "CHRONOS_QUEUE_PREFIX": f"{stack_env['CHRONOS_QUEUE_PREFIX']}{name}.",
            "CHRONOS_API_BIND": f"127.0.0.1:{free_port()}",
            **(env or {}),
        }
        with running_stack(settings, log_dir, procfile_extras) as stack:
            yield stack
