"""Log lines that say which request or run they belong to, as text or as JSON lines.

A busy API or worker interleaves the lines of many requests and runs; without an id on
each line nobody can follow one of them through. The ids live in a context variable,
set where a request or a run starts (``log_context``), so that code deep below, and
the libraries it calls, need not pass them along. Each process calls
:func:`configure_logging` once, at its entry point.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

LOG_FORMATS = ("text", "json")
# The ids a line may carry, in the order text mode shows them.
CONTEXT_FIELDS = ("request_id", "run_id", "job_id")
TEXT_LABELS = {"request_id": "req", "run_id": "run", "job_id": "job"}

# Immutable (a fresh dict per push, never changed after), so one empty default is safe.
_context: ContextVar[Mapping[str, str]] = ContextVar(
    "chronos_log_context", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class HasLogFormat(Protocol):
    @property
    def log_format(self) -> str: ...


def push_context(**fields: str) -> Token[Mapping[str, str]]:
    """Name ``fields`` (``request_id``, ``run_id``, ``job_id``) on every line logged in
    this thread or task from now on, added to those already named, until
    :func:`pop_context` with the token returned."""
    return _context.set({**_context.get(), **fields})


def pop_context(token: Token[Mapping[str, str]]) -> None:
    _context.reset(token)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """:func:`push_context` for the length of a block."""
    token = push_context(**fields)
    try:
        yield
    finally:
        pop_context(token)


def current_context() -> Mapping[str, str]:
    return _context.get()


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    """The ids for a record: the context's, overridden by any given with ``extra=``
    (a line about a run that is logged outside that run's context)."""
    fields = dict(_context.get())
    for name in CONTEXT_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            fields[name] = str(value)
    return fields


def rfc3339(timestamp: float) -> str:
    """UTC with milliseconds and a ``Z``, as the API writes times."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the ids
    that apply, any ``extra=`` fields, and ``exc_info`` as text when there is one.

    A message with a newline stays on one line (JSON escapes it), so a log shipper
    never splits a traceback into unrelated lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context_of(record))
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES and name not in line:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-12-01 09:00:00,000 INFO chronos.worker [run=… job=…]: message``: the ids
    compactly, only when there are any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(chronos_ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = _context_of(record)
        ids = " ".join(
            f"{TEXT_LABELS[name]}={fields[name]}" for name in CONTEXT_FIELDS if name in fields
        )
        record.chronos_ids = f" [{ids}]" if ids else ""
        try:
            return super().format(record)
        finally:
            del record.__dict__["chronos_ids"]


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(
            f"log format: expected one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
        )
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(
    settings_or_format: HasLogFormat | str, level: int | None = logging.INFO
) -> logging.Formatter:
    """Give the root logger's handlers Chronos's formatter, adding one on stderr if it
    has none. Handlers that a launcher set up (the Dramatiq CLI's pipe to its parent
    process) are kept, so the lines still reach where the launcher sends them; with
    ``level=None`` so is the launcher's level (``dramatiq -v``)."""
    log_format = (
        settings_or_format if isinstance(settings_or_format, str) else settings_or_format.log_format
    )
    formatter = make_formatter(log_format)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter)
    if level is not None:
        root.setLevel(level)
    logging.getLogger("pika").setLevel(logging.WARNING)
    return formatter
