"""A stand-in for a worker process: makes itself non-dumpable as the worker does, runs
one shell job (argv as JSON in argv[1]) with the real handler, prints the outcome."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import UTC, datetime

from shared.hardening import protect_process
from shared.run_context import JobFailed, RunContext
from shared.settings import Settings
from tests.integration.dispatch_helpers import worker_module

shell = worker_module("handlers.shell")


def main() -> None:
    protect_process()
    ctx = RunContext(
        run_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        attempt=1,
        deadline=datetime.now(UTC),
        logger=logging.getLogger("shell-parent"),
        settings=Settings(enable_shell_jobs=True),
    )
    print("started", flush=True)
    try:
        outcome = shell.run({"argv": json.loads(sys.argv[1]), "env": {}}, ctx)
    except JobFailed as failed:
        outcome = {"failed": failed.message, "result": failed.result}
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
