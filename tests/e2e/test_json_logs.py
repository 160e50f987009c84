"""CHRONOS_LOG_FORMAT=json on the real processes: every line of the API (gunicorn's own
too), the scheduler and the worker processes is a JSON object, and a run's lines, its
handler's and the libraries' it calls, carry its ``run_id`` and ``job_id``.

This stack is its own (database, queue prefix, port), beside the package's text one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import Client
from tests.e2e.loud_jobs import HANDLER_LINE, LIBRARY_LINE
from tests.e2e.stack import Stack, own_stack
from tests.e2e.waiting import wait_for

# The Dramatiq CLI's parent process, and the process it forks to serve the Prometheus
# metrics, never import Chronos, so their few lines ("booting up", "ready for action")
# keep Dramatiq's own format; its worker processes' lines are ours.
DRAMATIQ_PARENT = re.compile(
    r"^\[[^]]+\] \[PID \d+\] \[\w+\] \[dramatiq\.(MainProcess|ForkProcess\(\d+\))\] "
)
JSON_GUNICORN = "--logger-class api.gunicorn_logs.JsonLogger"


@pytest.fixture(scope="module")
def json_stack(
    stack_env: dict[str, str],
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    env = {"CHRONOS_LOG_FORMAT": "json", "CHRONOS_JOB_MODULES": "tests.e2e.loud_jobs"}
    log_dir = tmp_path_factory.mktemp("chronos-json-logs")
    extras = {"api": JSON_GUNICORN}
    with own_stack(stack_env, database_url, "jsonlogs", log_dir, env, extras) as stack:
        yield stack


def log_lines(stack: Stack, name: str) -> list[str]:
    (process,) = [process for process in stack.history if process.name == name]
    lines = process.log_path.read_text(errors="replace").splitlines()
    assert lines[0].startswith("$ "), lines[0]  # the command, written by the harness
    return lines[1:]


def parsed(lines: list[str], name: str) -> list[dict[str, Any]]:
    objects = []
    for line in lines:
        if name == "worker" and DRAMATIQ_PARENT.match(line):
            continue
        try:
            objects.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{name}: not a JSON line: {line!r}")
        for field in ("ts", "level", "logger", "message"):
            assert field in objects[-1], f"{name}: no {field!r} in {line}"
    return objects


def lines_with(stack: Stack, name: str, message: str) -> list[dict[str, Any]]:
    return [line for line in parsed(log_lines(stack, name), name) if line["message"] == message]


def test_a_runs_lines_carry_its_run_and_job(json_stack: Stack) -> None:
    client = Client(json_stack.url).as_new_user()
    job = client.submit(type="loud")
    wait_for(
        lambda: client.job(job["id"])["status"] == "succeeded",
        timeout=30,
        message="the loud job to succeed",
    )
    (run,) = client.runs(job["id"])

    def both_lines() -> list[dict[str, Any]] | None:
        found = lines_with(json_stack, "worker", HANDLER_LINE)
        found += lines_with(json_stack, "worker", LIBRARY_LINE)
        return found if len(found) == 2 else None

    handler_line, library_line = wait_for(both_lines, 15, message="the run's log lines")
    for line in (handler_line, library_line):
        assert line["run_id"] == run["id"]
        assert line["job_id"] == job["id"]
    assert handler_line["logger"] == "chronos.job.loud"
    assert library_line["level"] == "WARNING"


def test_every_process_writes_json_lines(json_stack: Stack) -> None:
    status, _ = Client(json_stack.url).request(
        "GET", "/no/such/route", headers={"X-Request-Id": "e2e-json-404"}
    )
    assert status == 404

    def access_line() -> list[dict[str, Any]]:
        lines = parsed(log_lines(json_stack, "api"), "api")
        return [line for line in lines if line.get("request_id") == "e2e-json-404"]

    (line,) = wait_for(access_line, 15, message="the access line of the 404")
    assert line["logger"] == "gunicorn.access"
    assert line["status"] == 404

    api = parsed(log_lines(json_stack, "api"), "api")
    assert any(line["logger"] == "gunicorn.error" for line in api), "gunicorn's own lines"
    scheduler = parsed(log_lines(json_stack, "scheduler"), "scheduler")
    assert any(line["message"].startswith("scheduler started") for line in scheduler)
    worker = parsed(log_lines(json_stack, "worker"), "worker")
    assert any(line["logger"].startswith("dramatiq") for line in worker), "Dramatiq's too"


def test_no_line_has_a_credential(json_stack: Stack) -> None:
    token = str(Client(json_stack.url).as_new_user().token)
    for name in ("api", "scheduler", "worker"):
        text = "\n".join(log_lines(json_stack, name))
        assert token not in text
        assert "correct-horse-battery" not in text
        assert "Authorization" not in text


def test_the_log_files_are_where_the_harness_put_them(json_stack: Stack) -> None:
    for process in json_stack.history:
        assert Path(process.log_path).is_file()
