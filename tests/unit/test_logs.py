"""Log lines: the JSON and text formatters, the request/run context, and the setting."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from shared.logs import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    current_context,
    log_context,
    make_formatter,
)
from shared.settings import Settings, SettingsError, load_log_format, load_settings

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(
    message: str = "hello %s",
    args: tuple[object, ...] = ("world",),
    level: int = logging.INFO,
    exc_info: object = None,
    **extra: object,
) -> logging.LogRecord:
    made = logging.getLogger("chronos.test").makeRecord(
        "chronos.test", level, __file__, 1, message, args, exc_info, extra=extra or None
    )
    return made


def as_json(line: str) -> dict[str, object]:
    assert "\n" not in line, "one record, one line"
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def test_a_json_line_has_the_fields() -> None:
    made = record()
    made.created = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC).timestamp()
    line = as_json(JsonFormatter().format(made))
    assert line == {
        "ts": "2026-12-01T09:00:00.123Z",
        "level": "INFO",
        "logger": "chronos.test",
        "message": "hello world",
    }


def test_a_json_line_names_the_run_and_job_of_its_context() -> None:
    with log_context(run_id="r-1"), log_context(job_id="j-1"):
        line = as_json(JsonFormatter().format(record()))
    assert line["run_id"] == "r-1"
    assert line["job_id"] == "j-1"
    assert RFC3339_UTC.fullmatch(str(line["ts"]))
    assert "run_id" not in as_json(JsonFormatter().format(record()))


def test_a_json_line_names_the_request_of_its_context() -> None:
    with log_context(request_id="abc123"):
        line = as_json(JsonFormatter().format(record()))
    assert line["request_id"] == "abc123"


def test_ids_given_with_extra_override_the_context() -> None:
    with log_context(run_id="outer", job_id="j"):
        line = as_json(JsonFormatter().format(record(run_id="explicit")))
    assert line["run_id"] == "explicit"
    assert line["job_id"] == "j"


def test_other_extra_fields_are_kept() -> None:
    line = as_json(JsonFormatter().format(record(status=200, path="/jobs")))
    assert line["status"] == 200
    assert line["path"] == "/jobs"


def test_an_exception_is_text_in_the_same_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        made = record("failed", (), logging.ERROR, exc_info=sys.exc_info())
    line = as_json(JsonFormatter().format(made))
    assert line["level"] == "ERROR"
    assert isinstance(line["exc_info"], str)
    assert "Traceback" in line["exc_info"]
    assert "ValueError: bad\nthing" in line["exc_info"]


def test_a_multiline_message_stays_one_line() -> None:
    line = as_json(JsonFormatter().format(record("one\ntwo", ())))
    assert line["message"] == "one\ntwo"


def test_an_unserialisable_argument_does_not_break_the_line() -> None:
    line = as_json(JsonFormatter().format(record(thing=object())))
    assert str(line["thing"]).startswith("<object object")


def test_text_lines_show_the_ids_compactly() -> None:
    formatter = TextFormatter()
    with log_context(run_id="r-1", job_id="j-1"):
        text = formatter.format(record())
    assert text.endswith(" INFO chronos.test [run=r-1 job=j-1]: hello world")
    with log_context(request_id="abc"):
        assert formatter.format(record()).endswith(" chronos.test [req=abc]: hello world")
    assert formatter.format(record()).endswith(" INFO chronos.test: hello world")


def test_contexts_nest_and_unwind() -> None:
    assert dict(current_context()) == {}
    with log_context(run_id="r"):
        with log_context(job_id="j"):
            assert dict(current_context()) == {"run_id": "r", "job_id": "j"}
        assert dict(current_context()) == {"run_id": "r"}
    assert dict(current_context()) == {}


def test_a_context_belongs_to_its_thread() -> None:
    seen: list[dict[str, str]] = []
    with log_context(run_id="main"):
        thread = threading.Thread(target=lambda: seen.append(dict(current_context())))
        thread.start()
        thread.join()
    assert seen == [{}]


@contextmanager
def bare_root() -> Iterator[list[logging.Handler]]:
    """The root logger with no handlers (not even pytest's own, which it adds for each
    test's call), restored after."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root.handlers
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_configure_logging_formats_the_launchers_handlers() -> None:
    stream = io.StringIO()
    with bare_root() as handlers:
        handlers.append(logging.StreamHandler(stream))
        logging.getLogger().setLevel(logging.DEBUG)
        configure_logging("json", level=None)
        assert logging.getLogger().level == logging.DEBUG, "the launcher's level is kept"
        assert len(handlers) == 1
        with log_context(run_id="r-9"):
            logging.getLogger("dramatiq.worker.Worker").info("a library line")
    line = as_json(stream.getvalue().strip())
    assert line["logger"] == "dramatiq.worker.Worker"
    assert line["run_id"] == "r-9"


def test_configure_logging_adds_a_handler_when_there_is_none() -> None:
    with bare_root() as handlers:
        configure_logging(Settings(log_format="text"))
        (handler,) = handlers
        assert isinstance(handler.formatter, TextFormatter)
        assert logging.getLogger().level == logging.INFO


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        make_formatter("xml")


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, "text"), ("", "text"), ("text", "text"), ("JSON ", "json")]
)
def test_chronos_log_format(raw: str | None, expected: str) -> None:
    environ = {} if raw is None else {"CHRONOS_LOG_FORMAT": raw}
    assert load_log_format(environ) == expected
    assert load_settings({**environ, "CHRONOS_JWT_SECRET": "s" * 40}).log_format == expected


def test_a_bad_chronos_log_format_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CHRONOS_LOG_FORMAT: expected one of text, json"):
        load_log_format({"CHRONOS_LOG_FORMAT": "yaml"})
